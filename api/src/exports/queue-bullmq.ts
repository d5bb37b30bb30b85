import { type Job, Queue, UnrecoverableError, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { ExportJobData, ExportQueue, ExportWorker } from "../ports";
import {
  EXPORT_QUEUE_NAME,
  EXPORT_RETRY,
  ExportInputError,
  type ExportJobHandler,
  type RetryPolicy,
} from "./jobs";

export interface BullMqExportQueueOptions {
  redisUrl: string;
  /** BullMQ key prefix (QUEUE_PREFIX); tests use a random one for a private queue. */
  prefix: string;
  retry?: RetryPolicy;
  logger?: Logger;
}

/**
 * The production export queue: BullMQ on Redis, job id = export id. Redis keeps a job that no
 * worker has finished across restarts of the API and of the workers; a job a dead worker held is
 * taken again once its lock lapses (BullMQ's stalled-job check).
 */
export class BullMqExportQueue implements ExportQueue {
  private readonly redis: Redis;
  private readonly queue: Queue<ExportJobData, void, "export">;

  constructor(options: BullMqExportQueueOptions) {
    const retry = options.retry ?? EXPORT_RETRY;
    this.redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 2 });
    this.queue = new Queue<ExportJobData, void, "export">(EXPORT_QUEUE_NAME, {
      connection: this.redis,
      prefix: options.prefix,
      defaultJobOptions: {
        attempts: retry.attempts,
        backoff: { type: "exponential", delay: retry.backoffMs },
        // The job's outcome lives in the exports row; Redis keeps finished jobs only briefly.
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 14 * 24 * 3600 },
      },
    });
    const onError = (error: Error) => options.logger?.warn({ err: error }, "export queue redis error");
    this.redis.on("error", onError);
    this.queue.on("error", onError);
  }

  async enqueue(data: ExportJobData): Promise<void> {
    await this.queue.add("export", data, { jobId: data.exportId });
  }

  async depth(): Promise<number> {
    return this.queue.getJobCountByTypes("wait", "active", "delayed", "prioritized");
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.redis.disconnect();
  }
}

export interface BullMqExportWorkerOptions {
  redisUrl: string;
  prefix: string;
  concurrency: number;
  handler: ExportJobHandler;
  logger: Logger;
}

/** Runs export jobs from Redis until closed; closing lets the jobs in hand finish. */
export function createBullMqExportWorker(options: BullMqExportWorkerOptions): ExportWorker {
  const worker = new Worker<ExportJobData, void, "export">(
    EXPORT_QUEUE_NAME,
    async (job: Job<ExportJobData, void, "export">) => {
      try {
        await options.handler(job.data, {
          id: job.id ?? job.data.exportId,
          attempt: job.attemptsMade + 1,
          attempts: job.opts.attempts ?? 1,
          progress: (value) => job.updateProgress(value),
        });
      } catch (error) {
        if (error instanceof ExportInputError) throw new UnrecoverableError(error.message);
        throw error;
      }
    },
    { connection: { url: options.redisUrl }, prefix: options.prefix, concurrency: options.concurrency },
  );
  worker.on("failed", (job, error) => {
    options.logger.error(
      { export_id: job?.data.exportId, attempts: job?.attemptsMade, err: error },
      "export job failed",
    );
  });
  worker.on("error", (error) => options.logger.error({ err: error }, "export worker error"));
  return {
    async close() {
      await worker.close();
    },
  };
}
