import { randomUUID } from "node:crypto";
import { Queue, UnrecoverableError, Worker } from "bullmq";
import { afterAll, describe, expect, it } from "vitest";
import { testRedisUrl } from "../../api/src/ingest/testing";
import { type QueueCounts, queueCounts, type SettleOptions, settle } from "./settle";

/**
 * A queue and an events table on a fake clock: `jobs` jobs hold `perJob` events each, and
 * `recover()` writes the held jobs and lets them leave the queue, commit first (as the worker does).
 */
function world(options: { stored: number; jobs: number; perJob: number }) {
  let time = 0;
  const state = { rows: options.stored, active: options.jobs };
  return {
    state,
    recover() {
      state.rows += state.active * options.perJob;
      state.active = 0;
    },
    clock: {
      now: () => time,
      sleep: async (ms: number) => {
        time += ms;
        // A turn of the event loop, so that a settle that never ends meets the test's timeout.
        await new Promise((r) => setImmediate(r));
      },
    },
    queue: (): QueueCounts => ({ waiting: 0, active: state.active, delayed: 0, failed: 0 }),
    /** The clock and plain readers of this world, for a settle that nothing races. */
    get options() {
      return {
        ...this.clock,
        readRows: async () => state.rows,
        readQueue: async () => this.queue(),
      };
    },
  };
}

describe("settle", () => {
  it("reads the rows after the queue: held jobs that complete as the queue is read are counted", async () => {
    // Four jobs held by a killed worker wait out their lock, the rows unchanged for longer than the
    // quiet time; they are written and complete just as a poll reads the queue.
    const w = world({ stored: 98_505, jobs: 4, perJob: 374 });
    const options: SettleOptions = {
      accepted: 98_505 + 4 * 374,
      ...w.clock,
      readRows: async () => {
        const rows = w.state.rows;
        // The count's snapshot is its start; its answer takes a moment.
        await new Promise((r) => setTimeout(r, 5));
        return rows;
      },
      readQueue: async () => {
        await new Promise((r) => setTimeout(r, 1));
        if (w.clock.now() >= 20_000) w.recover();
        return w.queue();
      },
    };
    const settled = await settle(options);
    expect(settled.queue.active).toBe(0);
    expect(settled.storedRows).toBe(98_505 + 4 * 374);
    expect(settled.at).toBeGreaterThanOrEqual(20_000);
    expect(settled.at).toBeLessThan(20_250 + 1);
  });

  it("waits for the deriver: every row stored and the queue empty is not settled while the backlog holds rows", async () => {
    const w = world({ stored: 1_000, jobs: 0, perJob: 0 });
    let backlog = 300;
    const settled = await settle({
      accepted: 1_000,
      quietMs: 15_000,
      ...w.options,
      readBacklog: async () => {
        // The deriver takes 100 rows a poll, after a long pause on the first 40 s.
        if (w.clock.now() >= 40_000) backlog = Math.max(0, backlog - 100);
        return backlog;
      },
    });
    expect(settled.backlog).toBe(0);
    expect(settled.storedRows).toBe(1_000);
    expect(settled.at).toBeGreaterThanOrEqual(40_500);
  });

  it("reports a loss once the queue is empty and no row came for the quiet time", async () => {
    const w = world({ stored: 900, jobs: 0, perJob: 0 });
    const settled = await settle({
      accepted: 1_000,
      quietMs: 15_000,
      ...w.options,
    });
    expect(settled.storedRows).toBe(900);
    expect(settled.at).toBeGreaterThan(15_000);
    expect(settled.at).toBeLessThanOrEqual(15_250);
  });

  it("waits for a held job however long the rows stay unchanged, up to the deadline", async () => {
    const w = world({ stored: 900, jobs: 1, perJob: 100 });
    const settled = await settle({
      accepted: 1_000,
      timeoutMs: 60_000,
      ...w.options,
    });
    expect(settled.queue.active).toBe(1);
    expect(settled.storedRows).toBe(900);
    expect(settled.at).toBeGreaterThan(60_000);
  }, 10_000);
});

describe("queueCounts", () => {
  const connection = { url: testRedisUrl() };
  const queues: Queue[] = [];

  afterAll(async () => {
    for (const queue of queues) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  function ingestQueue(): Queue {
    const queue = new Queue("ingest", { connection, prefix: `settle-${randomUUID()}` });
    queues.push(queue);
    return queue;
  }

  it("counts prioritized jobs and a paused queue's as waiting, and each other state apart", async () => {
    const queue = ingestQueue();
    const prefix = queue.opts.prefix;
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = 0;
    const worker = new Worker(
      "ingest",
      async (job) => {
        if (job.name === "bad") throw new UnrecoverableError("refused");
        started++;
        await held;
      },
      { connection, prefix, concurrency: 2 },
    );
    try {
      await queue.add("bad", {});
      await queue.add("bad", {});
      await queue.add("hold", {});
      await queue.add("hold", {});
      for (let i = 0; i < 200 && (started < 2 || (await queue.getFailedCount()) < 2); i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      await queue.add("later", {}, { delay: 60_000 });
      await queue.add("urgent", {}, { priority: 1 });
      await queue.add("plain", {});
      await queue.add("plain", {});
      expect(await queueCounts(queue)).toEqual({ waiting: 3, active: 2, delayed: 1, failed: 2 });

      // A paused queue's jobs are still to be written (BullMQ keeps them in `wait`).
      await queue.pause();
      await queue.add("plain", {});
      expect((await queueCounts(queue)).waiting).toBe(4);
      expect(await queueCounts(ingestQueue())).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });
    } finally {
      release();
      await worker.close();
    }
  });
});
