import type { IngestBatch } from "../ports";

/**
 * Packs the batches of concurrent requests into as few jobs as possible: batches of the same
 * source and account are concatenated, and no job carries more than `maxEvents` items (accepted
 * plus rejected). A single batch larger than that is split.
 */
export function packBatches(batches: IngestBatch[], maxEvents: number): IngestBatch[] {
  const jobs: IngestBatch[] = [];
  const open = new Map<string, IngestBatch>();
  const current = (batch: IngestBatch): IngestBatch => {
    const key = `${batch.source}:${batch.accountId ?? ""}`;
    let job = open.get(key);
    if (!job || size(job) >= maxEvents) {
      job = { source: batch.source, accountId: batch.accountId, accepted: [], rejected: [] };
      open.set(key, job);
      jobs.push(job);
    }
    return job;
  };
  for (const batch of batches) {
    for (const event of batch.accepted) current(batch).accepted.push(event);
    for (const item of batch.rejected) current(batch).rejected.push(item);
  }
  return jobs;
}

function size(batch: IngestBatch): number {
  return batch.accepted.length + batch.rejected.length;
}

interface Waiter {
  batch: IngestBatch;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * At most one write to the queue store is in flight. A caller arriving while none is starts one at
 * once (no added latency at low load); callers arriving while one is in flight wait together and
 * go out in the next write, so under load one round trip carries many requests. Writes also start
 * at least `minIntervalMs` apart: requests arriving evenly (one per millisecond at 1,000/s) would
 * otherwise each find the previous write done and go out alone, one queue job per event, which is
 * what a job costs the queue, the worker and the database many times over. Each caller's promise
 * settles with the write that carried its events.
 */
export class EnqueueCoalescer {
  private waiting: Waiter[] = [];
  /** The write in flight, or the wait before the next one; null when idle. */
  private busy: Promise<void> | null = null;
  private lastStart = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly write: (jobs: IngestBatch[]) => Promise<void>,
    private readonly maxEventsPerJob: number,
    private readonly minIntervalMs = 0,
  ) {}

  enqueue(batch: IngestBatch): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ batch, resolve, reject });
      if (this.busy === null) this.next();
    });
  }

  /** Resolves when every write started or scheduled so far, and those queued behind it, have settled. */
  async drain(): Promise<void> {
    while (this.busy !== null) await this.busy;
  }

  private next(): void {
    const wait = this.lastStart + this.minIntervalMs - performance.now();
    const started =
      wait > 0 ? new Promise<void>((r) => setTimeout(r, wait)).then(() => this.flush()) : this.flush();
    this.busy = started.finally(() => {
      this.busy = null;
      if (this.waiting.length > 0) this.next();
    });
  }

  private async flush(): Promise<void> {
    this.lastStart = performance.now();
    const waiters = this.waiting;
    this.waiting = [];
    const jobs = packBatches(
      waiters.map((w) => w.batch),
      this.maxEventsPerJob,
    );
    try {
      await this.write(jobs);
      for (const w of waiters) w.resolve();
    } catch (error) {
      for (const w of waiters) w.reject(error);
    }
  }
}
