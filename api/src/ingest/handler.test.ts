import { randomUUID } from "node:crypto";
import { validateEvents } from "@funnel/events";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestBatch } from "../ports";
import { createIngestHandler, splitByLane } from "./handler";
import { InvalidBatchError } from "./jobs";
import {
  createIngestTestContext,
  type IngestTestContext,
  pageView,
  rejectedRows,
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

const job = () => ({ id: randomUUID(), attempt: 1, queuedAt: Date.now() });

describe("ingest job handler", () => {
  it("refuses one malformed event alone instead of failing its whole batch", async () => {
    const handler = createIngestHandler({ database: ctx.deps.database, logger: pino({ level: "silent" }) });
    const { funnelId } = await seedAccount(ctx.deps);
    const { accepted } = validateEvents([pageView(funnelId), pageView(funnelId)], {
      context: { receivedAt: new Date() },
      fromBrowser: false,
      newId: randomUUID,
    });
    const [good, bad] = accepted;
    const marker = randomUUID();
    const batch = {
      source: "edge",
      accountId: null,
      accepted: [good, { ...bad, ip_address: "not-an-ip", session_id: marker }],
      rejected: [],
    } as IngestBatch;
    await handler(batch, job());
    expect(await storedEvents(ctx.deps, funnelId)).toHaveLength(1);
    const kept = (await rejectedRows(ctx.deps)).filter((r) => JSON.stringify(r.payload).includes(marker));
    expect(kept).toMatchObject([{ reason: "invalid", source: "edge", errors: [{ field: "ip_address" }] }]);
  });

  it("holds a lane's next write for the interval only while the worker can hold more jobs", async () => {
    const { funnelId } = await seedAccount(ctx.deps);
    // Three events of one visitor: a job all in that visitor's lane.
    const jobOf = (visitor: string) => {
      const { accepted } = validateEvents(
        [0, 1, 2].map(() => ({ ...pageView(funnelId), visitor_id: visitor })),
        { context: { receivedAt: new Date() }, fromBrowser: false, newId: randomUUID },
      );
      return { source: "import", accountId: null, accepted, rejected: [] } as IngestBatch;
    };
    const laneOf = (visitor: string) => splitByLane(jobOf(visitor), 2)[0]?.[0];
    const visitors = Array.from({ length: 64 }, () => randomUUID());
    const inLane0 = visitors.find((v) => laneOf(v) === 0) ?? "";
    const inLane1 = visitors.find((v) => laneOf(v) === 1) ?? "";
    const handler = (heldJobs: number) =>
      createIngestHandler({
        database: ctx.deps.database,
        logger: pino({ level: "silent" }),
        writeIntervalMs: 60_000,
        heldJobs,
      });
    // Holding one job at a time, the worker's next job is written at once, not a minute later.
    const single = handler(1);
    await single(jobOf(inLane0), job());
    const started = Date.now();
    await single(jobOf(inLane0), job());
    expect(Date.now() - started).toBeLessThan(20_000);
    // Holding two, a second job arriving within the interval waits for a third (or the minute);
    // the third, in the other lane, lets the second's lane write too.
    const pair = handler(2);
    await pair(jobOf(inLane0), job());
    let secondDone = false;
    const second = pair(jobOf(inLane0), job()).then(() => {
      secondDone = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(secondDone).toBe(false);
    await Promise.all([second, pair(jobOf(inLane1), job())]);
    expect(await storedEvents(ctx.deps, funnelId)).toHaveLength(15);
  });

  it("fails a job whose payload is not a batch for good", async () => {
    const handler = createIngestHandler({ database: ctx.deps.database, logger: pino({ level: "silent" }) });
    const notABatch = { source: "carrier-pigeon", accepted: "no" } as unknown as IngestBatch;
    await expect(handler(notABatch, job())).rejects.toBeInstanceOf(InvalidBatchError);
  });

  it("splits a job by visitor: each event in one lane, a visitor's events always in the same one", () => {
    const funnelId = randomUUID();
    const visitors = Array.from({ length: 40 }, () => randomUUID());
    const { accepted } = validateEvents(
      visitors.flatMap((visitor) => [0, 1, 2].map(() => ({ ...pageView(funnelId), visitor_id: visitor }))),
      { context: { receivedAt: new Date() }, fromBrowser: false, newId: randomUUID },
    );
    const refused = [
      { index: 99, errors: [{ field: "body", message: "must be an event object" }], raw: null },
    ];
    const batch = { source: "track", accountId: null, accepted, rejected: refused } as IngestBatch;
    const parts = splitByLane(batch, 3);
    // Every event once, in a lane of its visitor's; refused events with the first lane.
    expect(parts.flatMap(([, part]) => part.accepted.map((e) => e.event_id)).sort()).toEqual(
      accepted.map((e) => e.event_id).sort(),
    );
    const laneOfVisitor = new Map<string, number>();
    for (const [lane, part] of parts) {
      for (const e of part.accepted) {
        expect(laneOfVisitor.get(e.visitor_id) ?? lane).toBe(lane);
        laneOfVisitor.set(e.visitor_id, lane);
      }
      expect(part.rejected).toEqual(lane === 0 ? refused : []);
    }
    // 40 visitors spread over the three lanes, and the same lanes whatever the job.
    expect(new Set(parts.map(([lane]) => lane))).toEqual(new Set([0, 1, 2]));
    const again = splitByLane({ ...batch, accepted: [...accepted].reverse(), rejected: [] }, 3);
    for (const [lane, part] of again) {
      for (const e of part.accepted) expect(laneOfVisitor.get(e.visitor_id)).toBe(lane);
    }
    // An empty job still goes somewhere (it settles once written).
    expect(splitByLane({ ...batch, accepted: [], rejected: [] }, 3)).toHaveLength(1);
  });
});
