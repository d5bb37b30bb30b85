import { resolve } from "node:path";
import { createDatabase, type DatabaseHandle } from "@funnel/db/client";
import { migrate } from "@funnel/db/migrate";
import { ensurePartitions } from "@funnel/db/partitions";
import { applyRetention } from "@funnel/db/retention";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { createApp } from "./app";
import type { Config } from "./config";
import type { AppEnv, Deps } from "./deps";
import { createExportDeps } from "./exports/runtime";
import { startExportWorker } from "./exports/worker";
import { MemoryCache } from "./infra/cache-memory";
import { RedisCache } from "./infra/cache-redis";
import { createLogger } from "./infra/logger";
import { MemoryRateLimiter } from "./infra/rate-limiter-memory";
import { RedisRateLimiter } from "./infra/rate-limiter-redis";
import { startDeriver } from "./ingest/deriver";
import { createIngestHandler } from "./ingest/handler";
import { BullMqIngestQueue, createBullMqIngestWorker } from "./ingest/queue-bullmq";
import { openEmbeddedIngestQueue } from "./ingest/queue-embedded";
import { createMemoryIngestWorker, MemoryIngestQueue } from "./ingest/queue-memory";
import type { ExportWorker, IngestWorker } from "./ports";
import { MemoryRealtimeStore } from "./realtime/store-memory";
import { RedisRealtimeStore } from "./realtime/store-redis";
import { CatalogCache } from "./services/catalog/catalog-cache";
import { KeyCache } from "./services/keys/key-cache";

export interface Runtime {
  deps: Deps;
  app: OpenAPIHono<AppEnv>;
  /** Stops taking work, finishes what is in hand (queued events included), closes connections. */
  close(): Promise<void>;
}

const PARTITION_JOB_INTERVAL_MS = 6 * 3600 * 1000;
const RETENTION_JOB_INTERVAL_MS = 3600 * 1000;

/**
 * Chooses, once, the implementations behind the ports: TimescaleDB/PostgreSQL, BullMQ and Redis
 * when DATABASE_URL and REDIS_URL are set, else the embedded default (PGlite, in-process queue,
 * cache and limiter). Nothing past this point knows which one runs.
 */
export async function boot(config: Config): Promise<Runtime> {
  const logger = createLogger(config);
  const metrics = new Registry();

  const database: DatabaseHandle = await createDatabase({
    url: config.DATABASE_URL,
    dataDir: resolve(config.DATA_DIR, "pglite"),
    poolMax: config.DB_POOL_MAX,
    statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
    applicationName: config.RUN_API ? "funnel-api" : "funnel-worker",
  });
  await migrate(database);

  // Auto-pipelining sends the commands of concurrent requests (rate-limit checks above all) in one
  // socket write instead of one write each.
  const redis =
    config.REDIS_URL === undefined
      ? undefined
      : new Redis(config.REDIS_URL, {
          maxRetriesPerRequest: 2,
          enableAutoPipelining: true,
          commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
        });
  redis?.on("error", (error) => logger.warn({ err: error }, "redis error"));
  // Embedded: accepted jobs are kept in PGlite until written, and those a stopped process left are queued again.
  const queue =
    config.REDIS_URL === undefined
      ? await openEmbeddedIngestQueue(database, logger)
      : new BullMqIngestQueue({
          redisUrl: config.REDIS_URL,
          prefix: config.QUEUE_PREFIX,
          logger,
          enqueueIntervalMs: config.INGEST_ENQUEUE_INTERVAL_MS,
          commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
        });
  const limiter = redis
    ? new RedisRateLimiter(redis, {
        prefix: config.QUEUE_PREFIX,
        eventsPerSecond: config.RATE_LIMIT_EVENTS_PER_SECOND,
      })
    : new MemoryRateLimiter({ eventsPerSecond: config.RATE_LIMIT_EVENTS_PER_SECOND });
  const cache = redis ? new RedisCache(redis, `${config.QUEUE_PREFIX}:cache:`) : new MemoryCache();
  const realtime = redis
    ? new RedisRealtimeStore(redis, `${config.QUEUE_PREFIX}:rt:`)
    : new MemoryRealtimeStore();

  const exports = await createExportDeps(config, { logger });
  // API processes remember the keys they resolved and forget them when the database says a key changed.
  const keys = new KeyCache();
  const stopFollowingKeys = config.RUN_API ? keys.follow(database) : undefined;
  // Likewise the funnels they looked up to answer which events will not be counted.
  const catalog = new CatalogCache();
  const stopFollowingCatalog = config.RUN_API ? catalog.follow(database) : undefined;
  const deps: Deps = {
    config,
    database,
    queue,
    limiter,
    cache,
    realtime,
    keys,
    catalog,
    logger,
    metrics,
    exports,
  };

  const health = await queue.health();
  if (!health.durable) {
    // Loud on purpose: a 202 is a promise that the event will be stored.
    logger.warn(
      { warnings: health.warnings },
      "ingest queue cannot guarantee accepted events survive a restart",
    );
  }

  // Rollups are derived from the stored events by the worker processes, off the ingest path.
  const deriver = config.RUN_WORKER
    ? startDeriver({
        database,
        logger,
        concurrency: config.DERIVE_CONCURRENCY,
        idleMs: config.DERIVE_IDLE_MS,
        maxEvents: config.DERIVE_MAX_EVENTS,
      })
    : undefined;
  let worker: IngestWorker | undefined;
  if (config.RUN_WORKER) {
    const handler = createIngestHandler({
      database,
      logger,
      realtime,
      writers: config.INGEST_WRITERS,
      writeIntervalMs: config.INGEST_WRITE_INTERVAL_MS,
      heldJobs: config.INGEST_CONCURRENCY,
      onStored: () => deriver?.poke(),
    });
    worker =
      queue instanceof MemoryIngestQueue
        ? createMemoryIngestWorker(queue, { concurrency: config.INGEST_CONCURRENCY, handler, logger })
        : createBullMqIngestWorker({
            redisUrl: config.REDIS_URL ?? "",
            prefix: config.QUEUE_PREFIX,
            concurrency: config.INGEST_CONCURRENCY,
            handler,
            logger,
          });
  }
  // Export jobs run beside ingest in worker processes (RUN_WORKER), on the queue chosen above.
  const exportWorker: ExportWorker | undefined = config.RUN_WORKER
    ? await startExportWorker(deps)
    : undefined;
  // Monthly partitions ahead of time (a no-op on a hypertable), so writers never wait on DDL.
  const partitionJob = config.RUN_WORKER
    ? setInterval(() => {
        ensurePartitions(database.db).catch((error: unknown) =>
          logger.error({ err: error }, "creating partitions ahead failed"),
        );
      }, PARTITION_JOB_INTERVAL_MS)
    : undefined;
  partitionJob?.unref();
  // Retention (13 months): at start, so frequent restarts never postpone it, then hourly.
  let retention: Promise<void> | undefined;
  const retain = () => {
    retention ??= applyRetention(database.db)
      .then(({ cutoff, dropped, deleted }) => {
        const rows = Object.values(deleted).reduce((n, d) => n + d, 0);
        if (dropped.length > 0 || rows > 0) {
          logger.info({ cutoff: cutoff.toISOString(), dropped, deleted }, "retention: old data dropped");
        }
      })
      .catch((error: unknown) => logger.error({ err: error }, "retention job failed"))
      .finally(() => {
        retention = undefined;
      });
  };
  if (config.RUN_WORKER) retain();
  const retentionJob = config.RUN_WORKER ? setInterval(retain, RETENTION_JOB_INTERVAL_MS) : undefined;
  retentionJob?.unref();

  return {
    deps,
    app: createApp(deps),
    async close() {
      clearInterval(partitionJob);
      clearInterval(retentionJob);
      await retention;
      // Queue first (it drains adds in flight; the in-process one waits for its jobs to be
      // written), then the worker (it finishes the jobs in hand), then the connections.
      await queue.close();
      await worker?.close();
      await deriver?.close();
      await exports.queue.close();
      await exportWorker?.close();
      redis?.disconnect();
      await stopFollowingKeys?.();
      await stopFollowingCatalog?.();
      await database.close();
    },
  };
}
