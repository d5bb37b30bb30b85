import { randomUUID } from "node:crypto";
import type { AcceptedEvent } from "@funnel/events";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import type { IngestBatch, IngestQueue, IngestWorker } from "../ports";
import { type IngestJob, type IngestJobHandler, InvalidBatchError } from "./jobs";
import { BullMqIngestQueue, createBullMqIngestWorker } from "./queue-bullmq";
import { createMemoryIngestWorker, MemoryIngestQueue } from "./queue-memory";
import { redisQueueHealth } from "./redis-health";
import { testRedisUrl } from "./testing";

const logger = pino({ level: "silent" });
const redis = new Redis(testRedisUrl());
const prefixes: string[] = [];

afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});

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

const harnesses: [string, () => Harness][] = [
  [
    "BullMQ",
    () => {
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
    () => {
      const queue = new MemoryIngestQueue();
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

describe.each(harnesses)("%s ingest queue", (name, make) => {
  it("delivers every enqueued event to the worker, with a stable job id", async () => {
    const h = make();
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
    const h = make();
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
    const h = make();
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
});
