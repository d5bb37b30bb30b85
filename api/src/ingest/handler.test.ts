import { randomUUID } from "node:crypto";
import { validateEvents } from "@funnel/events";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestBatch } from "../ports";
import { createIngestHandler } from "./handler";
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

  it("holds the next write for the interval only while the worker can hold more jobs", async () => {
    const { funnelId } = await seedAccount(ctx.deps);
    const jobOf = () => {
      const { accepted } = validateEvents(
        [0, 1, 2].map(() => pageView(funnelId)),
        { context: { receivedAt: new Date() }, fromBrowser: false, newId: randomUUID },
      );
      return { source: "import", accountId: null, accepted, rejected: [] } as IngestBatch;
    };
    const handler = (heldJobs: number) =>
      createIngestHandler({
        database: ctx.deps.database,
        logger: pino({ level: "silent" }),
        writers: 1,
        writeIntervalMs: 60_000,
        heldJobs,
      });
    // Holding one job at a time, the worker's next job is written at once, not a minute later.
    const single = handler(1);
    await single(jobOf(), job());
    const started = Date.now();
    await single(jobOf(), job());
    expect(Date.now() - started).toBeLessThan(20_000);
    // Holding two, a second job arriving within the interval waits for a third (or the minute);
    // the third, the last the worker may hold, lets both go.
    const pair = handler(2);
    await pair(jobOf(), job());
    let secondDone = false;
    const second = pair(jobOf(), job()).then(() => {
      secondDone = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(secondDone).toBe(false);
    await Promise.all([second, pair(jobOf(), job())]);
    expect(await storedEvents(ctx.deps, funnelId)).toHaveLength(15);
  });

  it("fails a job whose payload is not a batch for good", async () => {
    const handler = createIngestHandler({ database: ctx.deps.database, logger: pino({ level: "silent" }) });
    const notABatch = { source: "carrier-pigeon", accepted: "no" } as unknown as IngestBatch;
    await expect(handler(notABatch, job())).rejects.toBeInstanceOf(InvalidBatchError);
  });
});
