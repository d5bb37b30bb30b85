import { randomUUID } from "node:crypto";
import { type DatabaseHandle, queryRows } from "@funnel/db/client";
import { sql } from "@funnel/db/orm";
import { writeBatch } from "@funnel/db/queries/events";
import { createTestPglite } from "@funnel/db/testing";
import { type AcceptedEvent, validateEvents } from "@funnel/events";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { IngestBatch, IngestQueue, IngestWorker } from "../ports";
import { createIngestHandler } from "./handler";
import { type IngestJob, type IngestJobHandler, InvalidBatchError } from "./jobs";
import { BullMqIngestQueue, createBullMqIngestWorker } from "./queue-bullmq";
import { openEmbeddedIngestQueue } from "./queue-embedded";
import { createMemoryIngestWorker, MemoryIngestQueue } from "./queue-memory";
import { redisQueueHealth } from "./redis-health";
import { pageView, seedAccount, testRedisUrl } from "./testing";

const logger = pino({ level: "silent" });
const redis = new Redis(testRedisUrl());
const prefixes: string[] = [];
/** The embedded default's database (PGlite, migrated), shared by the tests of this file. */
let pglite: DatabaseHandle;

beforeAll(async () => {
  pglite = await createTestPglite();
});

afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
  await pglite?.close();
});

/** The embedded queue's table, as its rows stand. */
const journalRows = () =>
  queryRows<{
    id: string;
    queued_at: string | Date;
    batch: IngestBatch;
    failed_at: unknown;
    error: string | null;
  }>(
    pglite.db,
    sql`select id, queued_at, batch, failed_at, error from ingest_accepted_batches order by queued_at, id`,
  );

const batch = (n: number): IngestBatch => ({
  source: "track",
  accountId: null,
  accepted: Array.from({ length: n }, () => ({ event_id: randomUUID() }) as AcceptedEvent),
  rejected: [],
});

interface Harness {
  queue: IngestQueue;
  startWorker(handler: IngestJobHandler): IngestWorker;
}

const harnesses: [string, () => Promise<Harness>][] = [
  [
    "BullMQ",
    async () => {
      const prefix = `test-${randomUUID()}`;
      prefixes.push(prefix);
      const options = { redisUrl: testRedisUrl(), prefix };
      const queue = new BullMqIngestQueue(options);
      return {
        queue,
        startWorker: (handler) => createBullMqIngestWorker({ ...options, concurrency: 2, handler, logger }),
      };
    },
  ],
  [
    "memory",
    async () => {
      const queue = new MemoryIngestQueue();
      return {
        queue,
        startWorker: (handler) => createMemoryIngestWorker(queue, { concurrency: 2, handler, logger }),
      };
    },
  ],
  [
    "embedded (kept in PGlite)",
    async () => {
      // Each test its own jobs: nothing an earlier test left is queued again.
      await pglite.db.execute(sql`delete from ingest_accepted_batches`);
      const queue = await openEmbeddedIngestQueue(pglite, logger);
      return {
        queue,
        startWorker: (handler) => createMemoryIngestWorker(queue, { concurrency: 2, handler, logger }),
      };
    },
  ],
];

const until = async (check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** Until nothing waits or runs; a job counts until the queue's own bookkeeping of it is done. */
const drained = async (queue: IngestQueue, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while ((await queue.depth()) > 0) {
    if (Date.now() > deadline) throw new Error("queue did not drain");
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe.each(harnesses)("%s ingest queue", (name, make) => {
  it("delivers every enqueued event to the worker, with a stable job id", async () => {
    const h = await make();
    const seen: { batch: IngestBatch; job: IngestJob }[] = [];
    const worker = h.startWorker(async (b, job) => {
      seen.push({ batch: b, job });
    });
    await Promise.all(Array.from({ length: 50 }, () => h.queue.enqueue(batch(3))));
    await until(() => seen.reduce((n, s) => n + s.batch.accepted.length, 0) === 150);
    for (const { job } of seen) {
      expect(job.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(job.attempt).toBe(1);
      expect(Math.abs(job.queuedAt - Date.now())).toBeLessThan(10_000);
    }
    if (name === "BullMQ") {
      // 50 concurrent requests went out in fewer Redis writes and jobs than requests.
      expect(seen.length).toBeLessThan(50);
    }
    await worker.close();
    await h.queue.close();
  });

  it("retries a failing job and fails bad input for good without retrying", async () => {
    const h = await make();
    const attempts = new Map<number, number>();
    const worker = h.startWorker(async (b, job) => {
      const size = b.accepted.length;
      attempts.set(size, job.attempt);
      if (size === 1 && job.attempt < 2) throw new Error("database away");
      if (size === 2) throw new InvalidBatchError("bad payload");
    });
    await h.queue.enqueue(batch(1));
    await h.queue.enqueue(batch(2));
    await until(() => attempts.get(1) === 2 && attempts.has(2));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(attempts.get(2)).toBe(1);
    expect(await h.queue.depth()).toBe(0);
    await worker.close();
    await h.queue.close();
  });

  it("lets the worker finish the job in hand when closed", async () => {
    const h = await make();
    let finished = false;
    let started = false;
    const worker = h.startWorker(async () => {
      started = true;
      await new Promise((r) => setTimeout(r, 300));
      finished = true;
    });
    await h.queue.enqueue(batch(1));
    await until(() => started);
    await worker.close();
    expect(finished).toBe(true);
    await h.queue.close();
  });
});

describe("embedded ingest queue (jobs kept in PGlite)", () => {
  beforeEach(async () => {
    await pglite.db.execute(sql`delete from ingest_accepted_batches`);
  });

  const closeAll = async (queue: IngestQueue, worker?: IngestWorker) => {
    await queue.close();
    await worker?.close();
  };

  it("keeps each job in the database before enqueue resolves, and deletes it once written", async () => {
    const queue = await openEmbeddedIngestQueue(pglite, logger);
    const sent = batch(3);
    await queue.enqueue(sent);
    const [row, ...others] = await journalRows();
    expect(others).toEqual([]);
    expect(row?.batch.accepted.map((e) => e.event_id)).toEqual(sent.accepted.map((e) => e.event_id));
    expect(row?.failed_at).toBeNull();

    const seen: IngestJob[] = [];
    const worker = createMemoryIngestWorker(queue, {
      concurrency: 1,
      handler: async (_, job) => {
        seen.push(job);
      },
      logger,
    });
    await drained(queue);
    expect(seen.map((job) => job.id)).toEqual([row?.id]);
    await closeAll(queue, worker);
    expect(await queue.depth()).toBe(0);
    expect(await journalRows()).toEqual([]);
  });

  it("runs again, with their ids and queue times, the jobs an earlier queue accepted and never wrote", async () => {
    // The first queue is left as a killed process leaves it: jobs accepted, none written, no close.
    const first = await openEmbeddedIngestQueue(pglite, logger);
    const sent = [batch(2), batch(3), batch(1)];
    for (const b of sent) {
      await first.enqueue(b);
      // Queue times a millisecond apart at least, so "oldest first" names one order.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const kept = await journalRows();
    expect(kept).toHaveLength(3);

    const second = await openEmbeddedIngestQueue(pglite, logger);
    expect(await second.depth()).toBe(3);
    const seen: { batch: IngestBatch; job: IngestJob }[] = [];
    const worker = createMemoryIngestWorker(second, {
      concurrency: 1,
      handler: async (b, job) => {
        seen.push({ batch: b, job });
      },
      logger,
    });
    await drained(second);
    // Oldest first, each as first queued: the writer stores a job's refused events once by its id.
    expect(seen.map((s) => s.job.id)).toEqual(kept.map((k) => k.id));
    expect(seen.map((s) => s.job.queuedAt)).toEqual(kept.map((k) => new Date(k.queued_at).getTime()));
    expect(seen.map((s) => s.batch)).toEqual(sent);
    await closeAll(second, worker);
    expect(await journalRows()).toEqual([]);
  });

  it("keeps a job that failed for good with its error, and does not run it again", async () => {
    const queue = await openEmbeddedIngestQueue(pglite, logger);
    const worker = createMemoryIngestWorker(queue, {
      concurrency: 1,
      handler: async () => {
        throw new InvalidBatchError("bad payload");
      },
      logger,
    });
    await queue.enqueue(batch(1));
    await until(() => queue.failed.length === 1);
    await closeAll(queue, worker);
    const [row] = await journalRows();
    expect(row).toMatchObject({ error: "bad payload" });
    expect(row?.failed_at).not.toBeNull();
    expect(await (await openEmbeddedIngestQueue(pglite, logger)).depth()).toBe(0);
  });

  it("waits for a write transaction holding the database, and the two never wait on each other", async () => {
    const queue = await openEmbeddedIngestQueue(pglite, logger);
    const order: string[] = [];
    let entered: () => void = () => {};
    const inTransaction = new Promise<void>((resolve) => {
      entered = resolve;
    });
    // PGlite is one connection: a transaction holds it from its first statement to its commit.
    const transaction = pglite.db.transaction(async (tx) => {
      await tx.execute(sql`select 1`);
      entered();
      await new Promise((r) => setTimeout(r, 300));
      await tx.execute(sql`select 1`);
      order.push("committed");
    });
    await inTransaction;
    const enqueued = queue.enqueue(batch(2)).then(() => order.push("accepted"));
    await Promise.all([transaction, enqueued]);
    expect(order).toEqual(["committed", "accepted"]);
    expect(await journalRows()).toHaveLength(1);
    await queue.close(0);
  });

  it("stores every event of imports accepted while the worker writes, once, and keeps nothing after", async () => {
    const { accountId, funnelId } = await seedAccount({ database: pglite });
    const queue = await openEmbeddedIngestQueue(pglite, logger);
    const worker = createMemoryIngestWorker(queue, {
      concurrency: 4,
      handler: createIngestHandler({ database: pglite, logger }),
      logger,
    });
    const receivedAt = new Date();
    // Requests in waves, each accepted while the writes of the earlier ones hold the database.
    for (let wave = 0; wave < 5; wave++) {
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          const { accepted } = validateEvents(
            Array.from({ length: 50 }, () => pageView(funnelId)),
            { context: { receivedAt }, fromBrowser: false, newId: randomUUID },
          );
          await queue.enqueue({ source: "import", accountId, accepted, rejected: [] });
        }),
      );
    }
    await drained(queue, 60_000);
    await closeAll(queue, worker);
    expect(queue.failed).toEqual([]);
    expect(await journalRows()).toEqual([]);
    const [stored] = await queryRows<{ events: number; ids: number }>(
      pglite.db,
      sql`select count(*)::int as events, count(distinct event_id)::int as ids
        from analytics_events where funnel_id = ${funnelId}`,
    );
    expect(stored).toEqual({ events: 1_500, ids: 1_500 });
  });

  it("gives back the space of written jobs (PGlite has no autovacuum)", async () => {
    const vacuums = async () => {
      const [row] = await queryRows<{ n: number }>(
        pglite.db,
        sql`select (vacuum_count + autovacuum_count)::int as n from pg_stat_user_tables
          where relname = 'ingest_accepted_batches'`,
      );
      return row?.n ?? 0;
    };
    const queue = await openEmbeddedIngestQueue(pglite, logger);
    const before = await vacuums();
    const worker = createMemoryIngestWorker(queue, { concurrency: 4, handler: async () => {}, logger });
    // One job per enqueue when each waits for the one before: 100 jobs written and deleted.
    for (let i = 0; i < 100; i++) await queue.enqueue(batch(1));
    await drained(queue);
    await closeAll(queue, worker);
    expect(await vacuums()).toBeGreaterThan(before);
  });

  it("writes a job partly written before a crash whole, each event and refused item once", async () => {
    const { accountId, funnelId } = await seedAccount({ database: pglite });
    const receivedAt = new Date();
    const { accepted, rejected } = validateEvents(
      [...Array.from({ length: 40 }, () => pageView(funnelId)), { event_type: "page_view" }],
      { context: { receivedAt }, fromBrowser: false, newId: randomUUID },
    );
    expect(rejected).toHaveLength(1);
    const first = await openEmbeddedIngestQueue(pglite, logger);
    await first.enqueue({ source: "import", accountId, accepted, rejected });
    const [job] = await journalRows();
    if (!job) throw new Error("no job kept");
    // What one lane of a killed worker committed: half the events and the refused item, by the job's id.
    await writeBatch(
      pglite.db,
      { source: "import", accountId, accepted: accepted.slice(0, 20), rejected },
      { batchId: job.id, receivedAt: new Date(job.queued_at) },
    );

    const second = await openEmbeddedIngestQueue(pglite, logger);
    const worker = createMemoryIngestWorker(second, {
      concurrency: 1,
      handler: createIngestHandler({ database: pglite, logger }),
      logger,
    });
    await drained(second, 20_000);
    await closeAll(second, worker);
    expect(second.failed).toEqual([]);
    expect(await journalRows()).toEqual([]);
    const [stored] = await queryRows<{ events: number; ids: number; refused: number }>(
      pglite.db,
      sql`select
        (select count(*)::int from analytics_events where funnel_id = ${funnelId}) as events,
        (select count(distinct event_id)::int from analytics_events where funnel_id = ${funnelId}) as ids,
        (select count(*)::int from rejected_events where batch_id = ${job.id}) as refused`,
    );
    expect(stored).toEqual({ events: 40, ids: 40, refused: 1 });
  });
});

describe("queue health", () => {
  it("BullMQ: reachable, and durable only with noeviction and persistence", async () => {
    const prefix = `test-${randomUUID()}`;
    prefixes.push(prefix);
    const queue = new BullMqIngestQueue({ redisUrl: testRedisUrl(), prefix, logger });
    const health = await queue.health();
    expect(health.reachable).toBe(true);
    const [, policy] = (await redis.config("GET", "maxmemory-policy")) as string[];
    const [, aof] = (await redis.config("GET", "appendonly")) as string[];
    const [, save] = (await redis.config("GET", "save")) as string[];
    const durable = policy === "noeviction" && (aof === "yes" || (save ?? "").trim() !== "");
    expect(health.durable).toBe(durable);
    expect(health.warnings.length === 0).toBe(durable);
    await queue.close();
  });

  it("names what is wrong", async () => {
    const fake = {
      ping: async () => "PONG",
      config: async (_: string, name: string) =>
        ({ "maxmemory-policy": [name, "allkeys-lru"], appendonly: [name, "no"], save: [name, ""] })[name],
    } as unknown as Redis;
    const health = await redisQueueHealth(fake);
    expect(health).toMatchObject({ reachable: true, durable: false });
    expect(health.warnings.join("\n")).toMatch(/allkeys-lru.*noeviction/);
    expect(health.warnings.join("\n")).toMatch(/persistence is off/);
  });

  it("reports an unreachable Redis", async () => {
    const queue = new BullMqIngestQueue({ redisUrl: "redis://127.0.0.1:1", prefix: "unreachable", logger });
    const health = await queue.health();
    expect(health.reachable).toBe(false);
    await queue.close();
  });

  it("memory: reachable but not durable", async () => {
    expect(await new MemoryIngestQueue().health()).toMatchObject({ reachable: true, durable: false });
  });

  it("embedded: durable, its jobs kept in the database", async () => {
    const queue = await openEmbeddedIngestQueue(pglite, logger);
    expect(await queue.health()).toEqual({ reachable: true, durable: true, warnings: [] });
    await queue.close();
  });
});
