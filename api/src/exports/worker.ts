import { unfinishedExports } from "@funnel/db/queries/exports";
import type { ExportWorker } from "../ports";
import { CLEANUP_INTERVAL_MS, cleanupExpiredExports } from "./cleanup";
import { createBullMqExportWorker } from "./queue-bullmq";
import { createMemoryExportWorker, MemoryExportQueue } from "./queue-memory";
import type { Renderers } from "./render";
import { createExportHandler, type ExportRunnerDeps } from "./runner";

export interface ExportWorkerOptions {
  concurrency?: number;
  /** Tests swap a renderer (e.g. one that fails once). */
  renderers?: Partial<Renderers>;
  /** Run the scheduled cleanup of expired files (default true). */
  cleanup?: boolean;
}

/**
 * Starts the export worker on the queue boot chose (BullMQ, or the in-process one), queues again
 * the exports the database says are unfinished (the in-process queue forgets its jobs at a restart;
 * for BullMQ the job id makes this a no-op unless Redis lost the job), and runs the cleanup of
 * expired files every 15 minutes.
 */
export async function startExportWorker(
  deps: ExportRunnerDeps,
  options: ExportWorkerOptions = {},
): Promise<ExportWorker> {
  const { config, logger } = deps;
  const queue = deps.exports.queue;
  const handler = createExportHandler(deps, { renderers: options.renderers });
  const concurrency = options.concurrency ?? config.EXPORT_CONCURRENCY;
  const worker =
    queue instanceof MemoryExportQueue
      ? createMemoryExportWorker(queue, { concurrency, handler, logger })
      : createBullMqExportWorker({
          redisUrl: config.REDIS_URL ?? "",
          prefix: config.QUEUE_PREFIX,
          concurrency,
          handler,
          logger,
        });

  for (const unfinished of await unfinishedExports(deps.database.db)) {
    await queue.enqueue({ exportId: unfinished.id, accountId: unfinished.accountId });
  }

  const cleanup = () =>
    cleanupExpiredExports(deps).catch((error: unknown) =>
      logger.error({ err: error }, "deleting expired export files failed"),
    );
  const timer = options.cleanup === false ? undefined : setInterval(cleanup, CLEANUP_INTERVAL_MS);
  timer?.unref();
  if (timer) void cleanup();

  return {
    async close() {
      clearInterval(timer);
      await worker.close();
    },
  };
}
