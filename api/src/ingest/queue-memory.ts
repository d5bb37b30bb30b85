import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { IngestBatch, IngestQueue, IngestWorker, QueueHealth } from "../ports";
import { packBatches } from "./coalesce";
import {
  INGEST_RETRY,
  type IngestJobHandler,
  InvalidBatchError,
  MAX_EVENTS_PER_JOB,
  retryDelayMs,
} from "./jobs";

interface MemoryJob {
  id: string;
  data: IngestBatch;
  attemptsMade: number;
  queuedAt: number;
}

/**
 * The embedded default's queue: jobs in a process-local list, same retry policy as BullMQ. Nothing
 * survives the process, which `health()` says; the embedded default trades that for needing no Redis.
 */
export class MemoryIngestQueue implements IngestQueue {
  private readonly waiting: MemoryJob[] = [];
  private readonly delayed = new Set<NodeJS.Timeout>();
  private active = 0;
  private closed = false;
  private readonly listeners = new Set<() => void>();
  /** Jobs that failed for good, newest last, for an operator (and tests) to inspect. */
  readonly failed: { job: MemoryJob; error: string }[] = [];

  async enqueue(batch: IngestBatch): Promise<void> {
    if (this.closed) throw new Error("ingest queue is closed");
    // Copy through JSON so the worker sees what a Redis round trip would give it.
    const copy = JSON.parse(JSON.stringify(batch)) as IngestBatch;
    for (const data of packBatches([copy], MAX_EVENTS_PER_JOB)) {
      this.waiting.push({ id: randomUUID(), data, attemptsMade: 0, queuedAt: Date.now() });
    }
    this.notify();
  }

  async depth(): Promise<number> {
    return this.waiting.length + this.active + this.delayed.size;
  }

  async health(): Promise<QueueHealth> {
    return {
      reachable: !this.closed,
      durable: false,
      warnings: ["in-process queue (embedded default): events not yet written are lost if the process stops"],
    };
  }

  /**
   * Stops taking batches and, while a worker runs, waits up to `drainTimeoutMs` for the jobs already
   * queued to be written: in this queue they would otherwise be lost with the process. Close the
   * queue before its worker.
   */
  async close(drainTimeoutMs = 10_000): Promise<void> {
    this.closed = true;
    const deadline = Date.now() + drainTimeoutMs;
    while (this.listeners.size > 0 && this.waiting.length + this.active + this.delayed.size > 0) {
      if (Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
  }

  /** @internal for the worker */
  take(): MemoryJob | undefined {
    const job = this.waiting.shift();
    if (job) this.active++;
    return job;
  }

  /** @internal for the worker: a job is done, or failed and goes back after its backoff. */
  settle(job: MemoryJob, outcome: { ok: true } | { ok: false; error: unknown; retryable: boolean }): void {
    this.active--;
    if (outcome.ok) return;
    job.attemptsMade++;
    const error = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    if (!outcome.retryable || job.attemptsMade >= INGEST_RETRY.attempts) {
      this.failed.push({ job, error });
      if (this.failed.length > 1000) this.failed.shift();
      return;
    }
    const timer = setTimeout(() => {
      this.delayed.delete(timer);
      this.waiting.push(job);
      this.notify();
    }, retryDelayMs(job.attemptsMade));
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

export interface MemoryWorkerOptions {
  concurrency: number;
  handler: IngestJobHandler;
  logger: Logger;
}

/** Runs jobs of a MemoryIngestQueue; closing stops taking jobs and waits for those in hand. */
export function createMemoryIngestWorker(
  queue: MemoryIngestQueue,
  options: MemoryWorkerOptions,
): IngestWorker {
  const running = new Set<Promise<void>>();
  let closed = false;

  const run = async (job: MemoryJob) => {
    try {
      await options.handler(job.data, { id: job.id, attempt: job.attemptsMade + 1, queuedAt: job.queuedAt });
      queue.settle(job, { ok: true });
    } catch (error) {
      const retryable = !(error instanceof InvalidBatchError);
      options.logger.error(
        { job_id: job.id, attempts: job.attemptsMade + 1, err: error },
        "ingest job failed",
      );
      queue.settle(job, { ok: false, error, retryable });
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
