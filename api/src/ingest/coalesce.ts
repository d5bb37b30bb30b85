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
 * go out in the next write, so under load one round trip carries many requests. Each caller's
 * promise settles with the write that carried its events.
 */
export class EnqueueCoalescer {
  private waiting: Waiter[] = [];
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly write: (jobs: IngestBatch[]) => Promise<void>,
    private readonly maxEventsPerJob: number,
  ) {}

  enqueue(batch: IngestBatch): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ batch, resolve, reject });
      if (this.inFlight === null) this.flush();
    });
  }

  /** Resolves when every write started so far, and those queued behind it, have settled. */
  async drain(): Promise<void> {
    while (this.inFlight !== null) await this.inFlight;
  }

  private flush(): void {
    const waiters = this.waiting;
    this.waiting = [];
    const jobs = packBatches(
      waiters.map((w) => w.batch),
      this.maxEventsPerJob,
    );
    this.inFlight = this.write(jobs)
      .then(
        () => {
          for (const w of waiters) w.resolve();
        },
        (error: unknown) => {
          for (const w of waiters) w.reject(error);
        },
      )
      .finally(() => {
        this.inFlight = null;
        if (this.waiting.length > 0) this.flush();
      });
  }
}
