import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { IngestBatch, IngestQueue, IngestWorker, QueueHealth } from "../ports";
import { EnqueueCoalescer } from "./coalesce";
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
 * Where an in-process queue keeps its jobs while they wait or run, so that they outlive the process
 * (queue-embedded.ts: the embedded database). Jobs are given as JSON text, serialised once.
 */
export interface IngestJournal {
  /** Resolves once the jobs would survive the process ending: only then is a batch accepted. */
  add(jobs: { id: string; queuedAt: number; json: string }[]): Promise<void>;
  /** The job's events are written. */
  done(id: string): Promise<void>;
  /** The job failed for good: kept for an operator, never run again. */
  failed(id: string, error: string): Promise<void>;
  /** Jobs added and neither done nor failed, oldest first. */
  pending(): Promise<{ id: string; queuedAt: number; data: unknown }[]>;
}

/**
 * The embedded default's queue: jobs in a process-local list, same retry policy as BullMQ. With a
 * journal (`open`), each job is kept in it before `enqueue` resolves and until its events are
 * written, and a new process queues again what an earlier one left; without one (tests) nothing
 * survives the process, which `health()` says.
 */
export class MemoryIngestQueue implements IngestQueue {
  private readonly waiting: MemoryJob[] = [];
  private readonly delayed = new Set<NodeJS.Timeout>();
  private active = 0;
  private closed = false;
  private readonly listeners = new Set<() => void>();
  /**
   * Batches of requests that arrive while a journal write is in flight go out together in the next
   * one, packed into jobs of at most MAX_EVENTS_PER_JOB events, as BullMQ's adds do.
   */
  private readonly adds = new EnqueueCoalescer((jobs) => this.add(jobs), MAX_EVENTS_PER_JOB);
  /** Jobs that failed for good, newest last, for an operator (and tests) to inspect. */
  readonly failed: { job: MemoryJob; error: string }[] = [];

  constructor(private readonly journal?: IngestJournal) {}

  /** A queue kept in `journal`, holding at once the jobs an earlier process left there (oldest first). */
  static async open(journal: IngestJournal): Promise<MemoryIngestQueue> {
    const queue = new MemoryIngestQueue(journal);
    for (const job of await journal.pending()) {
      // Its id and queue time as first queued: the writer stores its refused events once by that id.
      queue.waiting.push({
        id: job.id,
        data: job.data as IngestBatch,
        attemptsMade: 0,
        queuedAt: job.queuedAt,
      });
    }
    return queue;
  }

  async enqueue(batch: IngestBatch): Promise<void> {
    if (this.closed) throw new Error("ingest queue is closed");
    await this.adds.enqueue(batch);
  }

  private async add(batches: IngestBatch[]): Promise<void> {
    const queuedAt = Date.now();
    const jobs = batches.map((batch) => {
      const json = JSON.stringify(batch);
      // A copy through JSON, so the worker sees what a Redis round trip (or the journal) would give it.
      return { id: randomUUID(), json, data: JSON.parse(json) as IngestBatch, attemptsMade: 0, queuedAt };
    });
    await this.journal?.add(jobs.map(({ id, json }) => ({ id, queuedAt, json })));
    for (const { json: _, ...job } of jobs) this.waiting.push(job);
    this.notify();
  }

  async depth(): Promise<number> {
    return this.waiting.length + this.active + this.delayed.size;
  }

  async health(): Promise<QueueHealth> {
    if (this.journal) return { reachable: !this.closed, durable: true, warnings: [] };
    return {
      reachable: !this.closed,
      durable: false,
      warnings: ["in-process queue (embedded default): events not yet written are lost if the process stops"],
    };
  }

  /**
   * Stops taking batches and, while a worker runs, waits up to `drainTimeoutMs` for the jobs already
   * queued to be written (without a journal they would otherwise be lost with the process; with
   * one, the next start runs them). Close the queue before its worker.
   */
  async close(drainTimeoutMs = 10_000): Promise<void> {
    this.closed = true;
    // Batches already handed to the journal write in flight are accepted: let it finish.
    await this.adds.drain();
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

  /**
   * @internal for the worker: a job is done, or failed and goes back after its backoff. The job
   * counts as active until its journal entry is updated, so an empty queue has nothing left there
   * to run; a failed update leaves the job to run again at the next start (harmless: writes are
   * idempotent) and is thrown for the worker to log.
   */
  async settle(
    job: MemoryJob,
    outcome: { ok: true } | { ok: false; error: unknown; retryable: boolean },
  ): Promise<void> {
    try {
      if (outcome.ok) {
        await this.journal?.done(job.id);
        return;
      }
      job.attemptsMade++;
      const error = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
      if (!outcome.retryable || job.attemptsMade >= INGEST_RETRY.attempts) {
        this.failed.push({ job, error });
        if (this.failed.length > 1000) this.failed.shift();
        await this.journal?.failed(job.id, error);
        return;
      }
      const timer = setTimeout(() => {
        this.delayed.delete(timer);
        this.waiting.push(job);
        this.notify();
      }, retryDelayMs(job.attemptsMade));
      timer.unref();
      this.delayed.add(timer);
    } finally {
      this.active--;
    }
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
    let outcome: Parameters<MemoryIngestQueue["settle"]>[1] = { ok: true };
    try {
      await options.handler(job.data, { id: job.id, attempt: job.attemptsMade + 1, queuedAt: job.queuedAt });
    } catch (error) {
      outcome = { ok: false, error, retryable: !(error instanceof InvalidBatchError) };
      options.logger.error(
        { job_id: job.id, attempts: job.attemptsMade + 1, err: error },
        "ingest job failed",
      );
    }
    try {
      await queue.settle(job, outcome);
    } catch (error) {
      options.logger.error(
        { job_id: job.id, err: error },
        "ingest journal not updated; the job runs again at the next start",
      );
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
