import { randomUUID } from "node:crypto";
import { validateEvents } from "@funnel/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createIngestTestContext,
  eventCountRows,
  type IngestTestContext,
  pageView,
  seedAccount,
  storedEvents,
} from "./testing";

let ctx: IngestTestContext;

beforeAll(async () => {
  ctx = await createIngestTestContext();
});

afterAll(async () => {
  await ctx?.close();
});

describe("ingest worker restart", () => {
  it("loses no event and stores none twice when the worker stops mid-way and another takes over", async () => {
    const { funnelId } = await seedAccount(ctx.deps);
    const batches = 60;
    const perBatch = 25;
    const receivedAt = new Date();
    // Queued one by one (no coalescing), so there are many jobs to stop in the middle of.
    for (let i = 0; i < batches; i++) {
      const items = Array.from({ length: perBatch }, () => pageView(funnelId));
      const { accepted } = validateEvents(items, {
        context: { receivedAt },
        fromBrowser: false,
        newId: randomUUID,
      });
      await ctx.deps.queue.enqueue({ source: "track", accountId: null, accepted, rejected: [] });
    }

    const first = ctx.startWorker(1);
    let stored = 0;
    while (stored === 0) {
      await new Promise((r) => setTimeout(r, 5));
      stored = (await storedEvents(ctx.deps, funnelId)).length;
    }
    await first.close();
    const afterFirst = (await storedEvents(ctx.deps, funnelId)).length;
    expect(afterFirst).toBeGreaterThan(0);
    expect(afterFirst).toBeLessThan(batches * perBatch);
    // Closing let the job in hand finish: whole batches only.
    expect(afterFirst % perBatch).toBe(0);

    ctx.startWorker(2);
    await ctx.drained();
    const rows = await storedEvents(ctx.deps, funnelId);
    expect(rows).toHaveLength(batches * perBatch);
    expect(new Set(rows.map((r) => r.eventId)).size).toBe(batches * perBatch);
    const counts = await eventCountRows(ctx.deps, funnelId);
    expect(counts.reduce((n, c) => n + c.events, 0)).toBe(batches * perBatch);
  });
});
