import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase } from "@funnel/db/testing";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { pino } from "pino";
import { Registry } from "prom-client";
import { createApp } from "../app";
import { type Config, loadConfig } from "../config";
import type { AppEnv, Deps } from "../deps";
import { MemoryExportQueue } from "../exports/queue-memory";
import { createExportDeps } from "../exports/runtime";
import { MemoryCache } from "../infra/cache-memory";
import { MemoryRateLimiter } from "../infra/rate-limiter-memory";
import { MemoryIngestQueue } from "../ingest/queue-memory";
import { MemoryRealtimeStore } from "../realtime/store-memory";
import { CatalogCache } from "../services/catalog/catalog-cache";
import { KeyCache } from "../services/keys/key-cache";

export interface TestDepsOptions extends Partial<Omit<Deps, "config">> {
  /** Settings over the test defaults (NODE_ENV test, LOG_LEVEL silent, a temporary DATA_DIR). */
  config?: Partial<Config>;
}

export interface TestDeps extends Deps {
  /** URL of the test database, when this helper created it (e.g. for a CLI or API process). */
  databaseUrl: string | undefined;
  /** Closes the queue, drops the test database it created and removes the temporary DATA_DIR. */
  close(): Promise<void>;
}

/**
 * Real `Deps` for route and service tests: a fresh clone of the migrated template database on the
 * test TimescaleDB, and in-process queue, limiter and cache unless given. Tests that need Redis
 * pass their own (e.g. a BullMQ queue with a private prefix). Nothing is shared between calls.
 */
export async function makeTestDeps(options: TestDepsOptions = {}): Promise<TestDeps> {
  const { config: settings, ...given } = options;
  const dataDir = await mkdtemp(join(tmpdir(), "funnel-test-"));
  const config: Config = {
    ...loadConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", DATA_DIR: dataDir }),
    ...settings,
  };
  const testDatabase = given.database ? undefined : await createTestDatabase();
  const database = given.database ?? testDatabase?.handle;
  if (!database) throw new Error("makeTestDeps: no database");
  const queue = given.queue ?? new MemoryIngestQueue();
  // In process unless given, like the ingest queue; files, outbox and secret in the temporary DATA_DIR.
  const exports = given.exports ?? (await createExportDeps(config, { queue: new MemoryExportQueue() }));
  // As an API process does: resolved keys are remembered while the database reports key changes.
  const keys = given.keys ?? new KeyCache();
  const stopFollowingKeys = given.keys ? undefined : keys.follow(database);
  const catalog = given.catalog ?? new CatalogCache();
  const stopFollowingCatalog = given.catalog ? undefined : catalog.follow(database);

  return {
    config,
    database,
    queue,
    limiter: given.limiter ?? new MemoryRateLimiter({ eventsPerSecond: config.RATE_LIMIT_EVENTS_PER_SECOND }),
    cache: given.cache ?? new MemoryCache(),
    realtime: given.realtime ?? new MemoryRealtimeStore(),
    keys,
    catalog,
    logger: given.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
    metrics: given.metrics ?? new Registry(),
    exports,
    databaseUrl: testDatabase?.url,
    async close() {
      // What the test passed in is the test's to close; what was made here is closed here.
      if (!given.queue) await queue.close();
      if (!given.exports) await exports.queue.close();
      await stopFollowingKeys?.();
      await stopFollowingCatalog?.();
      await testDatabase?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestApp {
  app: OpenAPIHono<AppEnv>;
  deps: TestDeps;
  close(): Promise<void>;
}

/** `createApp` over `makeTestDeps`: for `app.request()` route tests. */
export async function createTestApp(options: TestDepsOptions = {}): Promise<TestApp> {
  const deps = await makeTestDeps(options);
  return { app: createApp(deps), deps, close: () => deps.close() };
}
