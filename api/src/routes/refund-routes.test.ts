import { randomUUID } from "node:crypto";
import type { AcceptedEvent } from "@funnel/events";
import { signatureHeaders } from "@funnel/events/signing";
import { storedEvent } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CHROME_UA,
  createIngestTestContext,
  type IngestTestContext,
  pageView,
  rejectedRows,
  seedAccount,
  storedEvents,
  TEST_EDGE_SECRET,
} from "../ingest/testing";

/**
 * Refunds come from the merchant's server: anyone can post to /track (and through the edge to
 * /internal/ingest), so a refund there is refused on its own, naming event_type, and the events
 * beside it are taken. The keyed /import takes them.
 */

let ctx: IngestTestContext;
let ip = 0;

beforeAll(async () => {
  ctx = await createIngestTestContext({
    config: { CLIENT_IP_HEADER: "x-forwarded-for", TRUSTED_PROXY_HOPS: "1" },
  });
  ctx.startWorker();
});

afterAll(async () => {
  await ctx?.close();
});

const refund = (funnelId: string, overrides: Record<string, unknown> = {}) => ({
  event_type: "refund",
  funnel_id: funnelId,
  session_id: `s-${randomUUID()}`,
  visitor_id: randomUUID(),
  order_id: `order-${randomUUID()}`,
  value_cents: 2_147_483_647,
  user_agent: CHROME_UA,
  ...overrides,
});

const track = (body: unknown) =>
  ctx.app.request("/api/v1/analytics/track", {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": `198.18.0.${++ip}` },
    body: JSON.stringify(body),
  });

const eventTypeRefused = {
  field: "event_type",
  message: expect.stringContaining("/api/v1/analytics/import"),
};

describe("refunds on the public routes", () => {
  it("/track refuses a refund by index, naming event_type, and takes the events beside it", async () => {
    const { funnelId } = await seedAccount(ctx.deps);
    const marker = `s-${randomUUID()}`;
    const res = await track({
      events: [pageView(funnelId), refund(funnelId, { session_id: marker }), pageView(funnelId)],
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      accepted: 2,
      rejected: [{ index: 1, errors: [eventTypeRefused] }],
      not_counted: [],
    });
    await ctx.drained();
    const stored = await storedEvents(ctx.deps, funnelId);
    expect(stored.map((e) => e.eventType)).toEqual(["page_view", "page_view"]);
    // Kept for operators with its reason, like any refused event.
    const kept = (await rejectedRows(ctx.deps)).filter(
      (r) => (r.payload as { session_id?: string }).session_id === marker,
    );
    expect(kept.map((r) => [r.reason, r.source])).toEqual([["invalid", "track"]]);
    expect(kept[0]?.errors).toEqual([eventTypeRefused]);
  });

  it("/track answers 400 naming event_type when the refund is all the request holds", async () => {
    const { funnelId } = await seedAccount(ctx.deps);
    const res = await track(refund(funnelId));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details: unknown } };
    expect(body.error.code).toBe("INVALID");
    expect(body.error.details).toEqual([{ index: 0, errors: [eventTypeRefused] }]);
  });

  it("/track keeps the request's indexes when a refund sits between invalid events", async () => {
    const { funnelId } = await seedAccount(ctx.deps);
    const res = await track({
      events: [
        { ...pageView(funnelId), visitor_id: "nope" },
        refund(funnelId),
        pageView(funnelId),
        { ...pageView(funnelId), page_id: undefined },
      ],
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { accepted: number; rejected: { index: number; errors: unknown[] }[] };
    expect(body.accepted).toBe(1);
    expect(body.rejected.map((r) => r.index)).toEqual([0, 1, 3]);
    expect(body.rejected[1]?.errors).toEqual([eventTypeRefused]);
    expect(body.rejected[0]?.errors).toEqual([{ field: "visitor_id", message: "must be a UUID" }]);
  });

  it("/internal/ingest refuses a refund in an edge batch by index and stores the rest", async () => {
    const { funnelId } = await seedAccount(ctx.deps);
    const now = new Date().toISOString();
    const edgeEvent = (overrides: Partial<AcceptedEvent>): AcceptedEvent =>
      storedEvent({
        event_type: "page_view",
        funnel_id: funnelId,
        session_id: `s-${randomUUID()}`,
        visitor_id: randomUUID(),
        occurred_at: now,
        received_at: now,
        page_id: randomUUID(),
        user_agent: CHROME_UA,
        ip_address: "198.51.100.0",
        enrichment: {
          device_type: "desktop",
          browser: "Chrome",
          os: "Windows",
          is_bot: false,
          country: null,
        },
        ...overrides,
      });
    const raw = JSON.stringify({
      events: [
        edgeEvent({}),
        edgeEvent({ event_type: "refund", page_id: null, order_id: "o-forged", value_cents: 2_147_483_647 }),
      ],
    });
    const res = await ctx.app.request("/internal/ingest", {
      method: "POST",
      headers: { "content-type": "application/json", ...(await signatureHeaders(TEST_EDGE_SECRET, raw)) },
      body: raw,
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 1, rejected: [{ index: 1, errors: [eventTypeRefused] }] });
    await ctx.drained();
    expect((await storedEvents(ctx.deps, funnelId)).map((e) => e.eventType)).toEqual(["page_view"]);
  });

  it("/import takes a refund from the account's server", async () => {
    const { funnelId, apiKey } = await seedAccount(ctx.deps);
    const res = await ctx.app.request("/api/v1/analytics/import", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ events: [refund(funnelId, { value_cents: 500 })] }),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 1, rejected: [], not_counted: [] });
    await ctx.drained();
    expect((await storedEvents(ctx.deps, funnelId)).map((e) => e.eventType)).toEqual(["refund"]);
  });
});
