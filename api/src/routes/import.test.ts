import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NOT_COUNTED_MESSAGES } from "../ingest/not-counted";
import {
  CHROME_UA,
  createIngestTestContext,
  eventCountRows,
  type IngestTestContext,
  pageView,
  rejectedRows,
  type SeededAccount,
  seedAccount,
  storedEvents,
} from "../ingest/testing";
import { putFunnel } from "../services/catalog";
import { funnelBody } from "../testing";

let ctx: IngestTestContext;
let account: SeededAccount;

beforeAll(async () => {
  ctx = await createIngestTestContext();
  ctx.startWorker();
  account = await seedAccount(ctx.deps);
});

afterAll(async () => {
  await ctx?.close();
});

const importEvents = (body: unknown, key: string | null = account.apiKey) =>
  ctx.app.request("/api/v1/analytics/import", {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });

describe("POST /api/v1/analytics/import", () => {
  it("needs an API key", async () => {
    expect((await importEvents({ events: [pageView(account.funnelId)] }, null)).status).toBe(401);
    expect((await importEvents({ events: [pageView(account.funnelId)] }, "fa_live_wrong")).status).toBe(401);
  });

  it("back-fills events at their timestamps, with the body's IP (truncated) and user agent", async () => {
    const { funnelId, apiKey } = await seedAccount(ctx.deps);
    const events = Array.from({ length: 250 }, (_, i) =>
      pageView(funnelId, {
        timestamp: new Date(Date.UTC(2026, 0, 10, i % 24, 5)).toISOString(),
        ip_address: "2001:db8:85a3:1234::7",
        user_agent: CHROME_UA,
      }),
    );
    const res = await importEvents({ events }, apiKey);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 250, rejected: [], not_counted: [] });
    await ctx.drained();
    const stored = await storedEvents(ctx.deps, funnelId);
    expect(stored).toHaveLength(250);
    expect(new Set(stored.map((e) => e.ipAddress))).toEqual(new Set(["2001:db8:85a3::"]));
    expect(stored.every((e) => e.browser === "Chrome" && e.deviceType === "desktop")).toBe(true);
    const counts = await eventCountRows(ctx.deps, funnelId);
    expect(counts).toHaveLength(24);
    expect(counts.reduce((n, c) => n + c.events, 0)).toBe(250);
  });

  it("keeps full IPs for an account that opted in", async () => {
    const full = await seedAccount(ctx.deps, { storeFullIp: true });
    const res = await importEvents(
      { events: [pageView(full.funnelId, { ip_address: "203.0.113.77" })] },
      full.apiKey,
    );
    expect(res.status).toBe(202);
    await ctx.drained();
    const [row] = await storedEvents(ctx.deps, full.funnelId);
    expect(row?.ipAddress).toBe("203.0.113.77");
  });

  it("never writes into another account's funnel: its events are kept aside as unknown_funnel", async () => {
    const other = await seedAccount(ctx.deps);
    const eventId = randomUUID();
    const res = await importEvents({
      events: [pageView(account.funnelId), pageView(other.funnelId, { event_id: eventId })],
    });
    expect(res.status).toBe(202);
    // Said as for a funnel that does not exist: the answer does not tell that another account has it.
    expect(await res.json()).toEqual({
      accepted: 2,
      rejected: [],
      not_counted: [
        {
          index: 1,
          field: "funnel_id",
          reason: "unknown_funnel",
          message: NOT_COUNTED_MESSAGES.notTheAccountsFunnel,
        },
      ],
    });
    await ctx.drained();
    expect(await storedEvents(ctx.deps, other.funnelId)).toEqual([]);
    expect(await eventCountRows(ctx.deps, other.funnelId)).toEqual([]);
    const kept = (await rejectedRows(ctx.deps)).filter((r) => r.funnelId === other.funnelId);
    expect(kept.map((r) => [r.reason, r.source, r.accountId])).toEqual([
      ["unknown_funnel", "import", account.accountId],
    ]);
    expect(kept[0]?.payload).toMatchObject({ event_id: eventId });
  });

  it("lists the events no report will count: a bot's user agent, a step the funnel lacks; not a missing agent", async () => {
    const funnelId = randomUUID();
    const body = funnelBody();
    await putFunnel(ctx.deps, account, { id: funnelId, ...body });
    const stepEntry = (stepId: string | undefined) => ({
      ...pageView(funnelId),
      event_type: "step_entry",
      funnel_step_id: stepId,
    });
    const { user_agent: _, ...serverSide } = pageView(funnelId);
    const events = [
      stepEntry(body.steps[1]?.id),
      pageView(funnelId, {
        user_agent: "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
      }),
      serverSide,
      stepEntry(randomUUID()),
      pageView(randomUUID()),
    ];
    const res = await importEvents({ events });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      accepted: 5,
      rejected: [],
      not_counted: [
        {
          index: 1,
          field: "user_agent",
          reason: "bot_user_agent",
          message: NOT_COUNTED_MESSAGES.botUserAgent,
        },
        {
          index: 3,
          field: "funnel_step_id",
          reason: "unknown_step",
          message: NOT_COUNTED_MESSAGES.unknownStep,
        },
        {
          index: 4,
          field: "funnel_id",
          reason: "unknown_funnel",
          message: NOT_COUNTED_MESSAGES.notTheAccountsFunnel,
        },
      ],
    });
    await ctx.drained();
    expect(await storedEvents(ctx.deps, funnelId)).toHaveLength(4);
  });

  it("refuses more than 10,000 events, and a body with no valid event", async () => {
    const tooMany = await importEvents({ events: Array.from({ length: 10_001 }, () => ({})) });
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toMatchObject({
      error: { details: [{ field: "events", message: "must contain at most 10000 events" }] },
    });
    const invalid = await importEvents({ events: [{ event_type: "page_view" }] });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: { details: [{ index: 0 }] } });
    await ctx.drained();
  });
});
