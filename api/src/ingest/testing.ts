import { randomUUID } from "node:crypto";
import { queryRows } from "@funnel/db/client";
import { asc, eq, sql } from "@funnel/db/orm";
import { deriveAll } from "@funnel/db/queries/derive";
import { accounts, analyticsEvents, apiKeys, eventCounts, funnels, rejectedEvents } from "@funnel/db/schema";
import { createTestDatabase, type TestDatabase, testServices } from "@funnel/db/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Registry } from "prom-client";
import { createApp } from "../app";
import { type Config, loadConfig } from "../config";
import type { Deps } from "../deps";
import { MemoryExportQueue } from "../exports/queue-memory";
import { createExportDeps } from "../exports/runtime";
import { MemoryCache } from "../infra/cache-memory";
import { RedisRateLimiter } from "../infra/rate-limiter-redis";
import type { IngestWorker } from "../ports";
import { RedisRealtimeStore } from "../realtime/store-redis";
import { CatalogCache } from "../services/catalog/catalog-cache";
import { KeyCache } from "../services/keys/key-cache";
import { generateApiKey } from "../services/keys/key-hash";
import { createIngestHandler } from "./handler";
import { BullMqIngestQueue, createBullMqIngestWorker } from "./queue-bullmq";

/**
 * Deps for ingest tests: a database cloned from the migrated template, a BullMQ queue under a
 * private random prefix on the test Redis, silent logs, a fresh metrics registry.
 */

export const TEST_EDGE_SECRET = "test-edge-signing-secret-0123456789abcdef";

export function testRedisUrl(): string {
  return testServices().redisUrl;
}

export interface IngestTestContext {
  deps: Deps;
  app: ReturnType<typeof createApp>;
  database: TestDatabase;
  redis: Redis;
  /** The BullMQ prefix (and rate-limit key prefix) private to this context. */
  prefix: string;
  /** Starts an ingest worker on this context's queue; `close()` stops it too. */
  startWorker(concurrency?: number): IngestWorker;
  /** Resolves when no job is waiting, delayed or running, and their events' rollups are derived. */
  drained(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface IngestTestOptions {
  config?: Record<string, string>;
  /** Pins the rate limiter's clock (unix ms). */
  now?: () => number;
}

export async function createIngestTestContext(options: IngestTestOptions = {}): Promise<IngestTestContext> {
  const { databaseUrl, redisUrl } = testServices();
  const database = await createTestDatabase();
  const prefix = `test-${randomUUID()}`;
  const config: Config = loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    EDGE_SIGNING_SECRET: TEST_EDGE_SECRET,
    EXPORT_SIGNING_SECRET: TEST_EDGE_SECRET,
    ...options.config,
  });
  const redis = new Redis(redisUrl);
  const logger = pino({ level: "silent" });
  const queue = new BullMqIngestQueue({ redisUrl, prefix, logger });
  const keys = new KeyCache();
  const stopFollowingKeys = keys.follow(database.handle);
  const catalog = new CatalogCache();
  const stopFollowingCatalog = catalog.follow(database.handle);
  const deps: Deps = {
    config,
    database: database.handle,
    queue,
    limiter: new RedisRateLimiter(redis, {
      prefix,
      eventsPerSecond: config.RATE_LIMIT_EVENTS_PER_SECOND,
      ...(options.now ? { now: options.now } : {}),
    }),
    cache: new MemoryCache(),
    realtime: new RedisRealtimeStore(redis, `${prefix}:rt:`),
    keys,
    catalog,
    logger,
    metrics: new Registry(),
    exports: await createExportDeps(config, { queue: new MemoryExportQueue() }),
  };
  const workers: IngestWorker[] = [];
  const handler = createIngestHandler({ database: database.handle, logger, realtime: deps.realtime });

  return {
    deps,
    app: createApp(deps),
    database,
    redis,
    prefix,
    startWorker(concurrency = 2) {
      const worker = createBullMqIngestWorker({ redisUrl, prefix, concurrency, handler, logger });
      workers.push(worker);
      return worker;
    },
    async drained(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while ((await queue.depth()) > 0) {
        if (Date.now() > deadline) throw new Error("ingest queue did not drain");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // The stored events' rollups, as the worker's deriver keeps them.
      await deriveAll(database.handle.db);
    },
    async close() {
      await queue.close();
      await Promise.all(workers.map((w) => w.close()));
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await stopFollowingKeys();
      await stopFollowingCatalog();
      await database.drop();
    },
  };
}

export interface SeededAccount {
  accountId: string;
  funnelId: string;
  /** Bearer key of the account. */
  apiKey: string;
}

/** An account with one funnel and one API key, inserted straight into the catalog tables. */
export async function seedAccount(
  deps: Pick<Deps, "database">,
  options: { storeFullIp?: boolean } = {},
): Promise<SeededAccount> {
  const { db } = deps.database;
  const accountId = randomUUID();
  const funnelId = randomUUID();
  const key = generateApiKey();
  await db.insert(accounts).values({
    id: accountId,
    name: `Account ${accountId.slice(0, 8)}`,
    storeFullIp: options.storeFullIp ?? false,
  });
  await db.insert(funnels).values({ id: funnelId, accountId, name: "Test funnel" });
  await db.insert(apiKeys).values({ accountId, keyHash: key.hash, prefix: key.prefix });
  return { accountId, funnelId, apiKey: key.key };
}

export const CHROME_UA =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
export const IPHONE_UA =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

/** A valid page_view for `funnelId`; override any field. */
export function pageView(funnelId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_type: "page_view",
    funnel_id: funnelId,
    page_id: randomUUID(),
    session_id: `s-${randomUUID()}`,
    visitor_id: randomUUID(),
    url: "https://shop.example.com/landing",
    user_agent: CHROME_UA,
    ...overrides,
  };
}

// Reads for assertions (route tests may not import the ORM themselves).

type Db = Pick<Deps, "database">;

export async function storedEvents(deps: Db, funnelId: string) {
  return deps.database.db
    .select()
    .from(analyticsEvents)
    .where(eq(analyticsEvents.funnelId, funnelId))
    .orderBy(asc(analyticsEvents.createdAt), asc(analyticsEvents.eventId));
}

export async function rejectedRows(deps: Db) {
  return deps.database.db.select().from(rejectedEvents).orderBy(asc(rejectedEvents.id));
}

export async function eventCountRows(deps: Db, funnelId: string) {
  return deps.database.db
    .select()
    .from(eventCounts)
    .where(eq(eventCounts.funnelId, funnelId))
    .orderBy(asc(eventCounts.bucket), asc(eventCounts.eventType));
}

/** The JSON type Postgres sees for an event's metadata: 'object' unless it was encoded twice. */
export async function metadataJsonType(deps: Db, eventId: string): Promise<string | undefined> {
  const rows = await queryRows<{ type: string }>(
    deps.database.db,
    sql`select jsonb_typeof(metadata) as type from analytics_events where event_id = ${eventId}`,
  );
  return rows[0]?.type;
}
