import type { Logger } from "pino";
import type { ExportJobData, ExportQueue, ExportWorker } from "../ports";
import {
  EXPORT_RETRY,
  ExportInputError,
  type ExportJobHandler,
  type RetryPolicy,
  retryDelayMs,
} from "./jobs";

interface MemoryJob {
  data: ExportJobData;
  attemptsMade: number;
}

/**
 * The embedded default's export queue: jobs in a process-local list, the same retry policy as the
 * BullMQ one. Jobs are not kept across a restart, but their `exports` rows are: the worker queues
 * the unfinished ones again when it starts (see worker.ts).
 */
export class MemoryExportQueue implements ExportQueue {
  private readonly waiting: MemoryJob[] = [];
  /** Ids waiting, delayed or running: queueing one again is a no-op, as with BullMQ's job ids. */
  private readonly known = new Set<string>();
  private readonly delayed = new Set<NodeJS.Timeout>();
  private active = 0;
  private closed = false;
  private readonly listeners = new Set<() => void>();

  constructor(readonly retry: RetryPolicy = EXPORT_RETRY) {}

  async enqueue(data: ExportJobData): Promise<void> {
    if (this.closed) throw new Error("export queue is closed");
    if (this.known.has(data.exportId)) return;
    this.known.add(data.exportId);
    this.waiting.push({ data: { ...data }, attemptsMade: 0 });
    this.notify();
  }

  async depth(): Promise<number> {
    return this.waiting.length + this.active + this.delayed.size;
  }

  /** Stops taking jobs and drops the delayed retries (their rows are queued again at the next start). */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
  }

  /** @internal for the worker */
  take(): MemoryJob | undefined {
    if (this.closed) return undefined;
    const job = this.waiting.shift();
    if (job) this.active++;
    return job;
  }

  /** @internal for the worker: a job is done, or failed and goes back after its backoff. */
  settle(job: MemoryJob, outcome: { ok: true } | { ok: false; retryable: boolean }): void {
    this.active--;
    job.attemptsMade++;
    if (outcome.ok || !outcome.retryable || job.attemptsMade >= this.retry.attempts || this.closed) {
      this.known.delete(job.data.exportId);
      return;
    }
    const timer = setTimeout(
      () => {
        this.delayed.delete(timer);
        this.waiting.push(job);
        this.notify();
      },
      retryDelayMs(this.retry, job.attemptsMade),
    );
    timer.unref();
    this.delayed.add(timer);
  }

  /** @internal for the worker */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}

/** Runs jobs of a MemoryExportQueue; closing stops taking jobs and waits for those in hand. */
export function createMemoryExportWorker(
  queue: MemoryExportQueue,
  options: { concurrency: number; handler: ExportJobHandler; logger: Logger },
): ExportWorker {
  const running = new Set<Promise<void>>();
  let closed = false;

  const run = async (job: MemoryJob) => {
    try {
      await options.handler(job.data, {
        id: job.data.exportId,
        attempt: job.attemptsMade + 1,
        attempts: queue.retry.attempts,
        progress: async () => {},
      });
      queue.settle(job, { ok: true });
    } catch (error) {
      options.logger.error(
        { export_id: job.data.exportId, attempt: job.attemptsMade + 1, err: error },
        "export job failed",
      );
      queue.settle(job, { ok: false, retryable: !(error instanceof ExportInputError) });
    }
  };

  const pump = () => {
    while (!closed && running.size < options.concurrency) {
      const job = queue.take();
      if (!job) return;
      const task: Promise<void> = run(job).finally(() => {
        running.delete(task);
        pump();
      });
      running.add(task);
    }
  };

  const unsubscribe = queue.subscribe(pump);
  pump();
  return {
    async close() {
      closed = true;
      unsubscribe();
      await Promise.all(running);
    },
  };
}
