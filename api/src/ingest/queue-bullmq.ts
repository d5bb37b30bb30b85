import { randomUUID } from "node:crypto";
import { type Job, Queue, UnrecoverableError, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { IngestBatch, IngestQueue, IngestSource, IngestWorker, QueueHealth } from "../ports";
import { EnqueueCoalescer } from "./coalesce";
import {
  INGEST_QUEUE_NAME,
  INGEST_RETRY,
  type IngestJobHandler,
  InvalidBatchError,
  MAX_EVENTS_PER_JOB,
} from "./jobs";
import { redisQueueHealth } from "./redis-health";

export interface BullMqQueueOptions {
  redisUrl: string;
  /** BullMQ key prefix (QUEUE_PREFIX); tests use a random one for a private queue. */
  prefix: string;
  logger?: Logger;
  /** Least time between two job writes of this producer (INGEST_ENQUEUE_INTERVAL_MS). */
  enqueueIntervalMs?: number;
  /**
   * Deadline of a job write (REDIS_COMMAND_TIMEOUT_MS): past it the request is answered 503 rather
   * than held while Redis is stalled. The write may still land later; the client's retry then
   * carries the same event ids, which the writer stores once.
   */
  commandTimeoutMs?: number;
}

type IngestJobData = IngestBatch;

/**
 * The production ingest queue: BullMQ on Redis. `enqueue` resolves once Redis holds the job that
 * carries the batch; concurrent enqueues are coalesced (see EnqueueCoalescer).
 */
export class BullMqIngestQueue implements IngestQueue {
  private readonly redis: Redis;
  private readonly queue: Queue<IngestJobData, void, IngestSource>;
  private readonly coalescer: EnqueueCoalescer;
  private closed = false;

  constructor(options: BullMqQueueOptions) {
    // A producer should fail a request fast rather than hold it while Redis is away.
    this.redis = new Redis(options.redisUrl, {
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
      ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
    });
    this.queue = new Queue<IngestJobData, void, IngestSource>(INGEST_QUEUE_NAME, {
      connection: this.redis,
      prefix: options.prefix,
      defaultJobOptions: {
        attempts: INGEST_RETRY.attempts,
        backoff: { type: "exponential", delay: INGEST_RETRY.backoffMs },
        removeOnComplete: true,
        // Jobs that failed for good stay two weeks for an operator to inspect and retry.
        removeOnFail: { age: 14 * 24 * 3600 },
      },
    });
    // Connection errors surface as failed enqueues (503) and in health(); log them, do not crash.
    const onError = (error: Error) => options.logger?.warn({ err: error }, "ingest queue redis error");
    this.redis.on("error", onError);
    this.queue.on("error", onError);
    this.coalescer = new EnqueueCoalescer(
      (jobs) => this.addJobs(jobs),
      MAX_EVENTS_PER_JOB,
      options.enqueueIntervalMs ?? 0,
    );
  }

  async enqueue(batch: IngestBatch): Promise<void> {
    if (this.closed) throw new Error("ingest queue is closed");
    await this.coalescer.enqueue(batch);
  }

  private async addJobs(jobs: IngestBatch[]): Promise<void> {
    const [only] = jobs;
    if (only === undefined) return;
    if (jobs.length === 1) {
      await this.queue.add(only.source, only, { jobId: randomUUID() });
      return;
    }
    await this.queue.addBulk(
      jobs.map((data) => ({ name: data.source, data, opts: { jobId: randomUUID() } })),
    );
  }

  async depth(): Promise<number> {
    return this.queue.getJobCountByTypes("wait", "active", "delayed", "prioritized");
  }

  async health(): Promise<QueueHealth> {
    return redisQueueHealth(this.redis);
  }

  /** Stops taking batches, waits for adds in flight, then disconnects. */
  async close(): Promise<void> {
    this.closed = true;
    await this.coalescer.drain();
    await this.queue.close();
    this.redis.disconnect();
  }
}

export interface BullMqWorkerOptions extends BullMqQueueOptions {
  concurrency: number;
  handler: IngestJobHandler;
  logger: Logger;
}

/** Runs ingest jobs from Redis until closed; closing lets the jobs in hand finish. */
export function createBullMqIngestWorker(options: BullMqWorkerOptions): IngestWorker {
  const worker = new Worker<IngestJobData, void, IngestSource>(
    INGEST_QUEUE_NAME,
    async (job: Job<IngestJobData, void, IngestSource>) => {
      const id = job.id ?? "";
      try {
        await options.handler(job.data, { id, attempt: job.attemptsMade + 1, queuedAt: job.timestamp });
      } catch (error) {
        if (error instanceof InvalidBatchError) throw new UnrecoverableError(error.message);
        throw error;
      }
    },
    {
      connection: { url: options.redisUrl },
      prefix: options.prefix,
      concurrency: options.concurrency,
    },
  );
  worker.on("failed", (job, error) => {
    options.logger.error(
      { job_id: job?.id, attempts: job?.attemptsMade, events: job?.data.accepted.length, err: error },
      "ingest job failed",
    );
  });
  worker.on("error", (error) => options.logger.error({ err: error }, "ingest worker error"));
  return {
    async close() {
      await worker.close();
    },
  };
}
