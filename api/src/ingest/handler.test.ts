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
      trustBodyIp: true,
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

  it("fails a job whose payload is not a batch for good", async () => {
    const handler = createIngestHandler({ database: ctx.deps.database, logger: pino({ level: "silent" }) });
    const notABatch = { source: "carrier-pigeon", accepted: "no" } as unknown as IngestBatch;
    await expect(handler(notABatch, job())).rejects.toBeInstanceOf(InvalidBatchError);
  });
});
