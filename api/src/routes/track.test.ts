import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../app";
import { NOT_COUNTED_MESSAGES } from "../ingest/not-counted";
import {
  CHROME_UA,
  createIngestTestContext,
  eventCountRows,
  type IngestTestContext,
  IPHONE_UA,
  metadataJsonType,
  pageView,
  rejectedRows,
  type SeededAccount,
  seedAccount,
  storedEvents,
} from "../ingest/testing";
import { deleteFunnel, putFunnel } from "../services/catalog";
import { funnelBody } from "../testing";

let ctx: IngestTestContext;
let account: SeededAccount;
/** The rate limiter's clock: frozen, moved by hand. */
let clock = Date.now();
let ipCounter = 0;
/** A client address of its own, so tests do not share a rate-limit budget. */
const GOOGLEBOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const freshIp = () => `198.51.${Math.floor(++ipCounter / 250)}.${(ipCounter % 250) + 1}`;

beforeAll(async () => {
  ctx = await createIngestTestContext({
    config: { CLIENT_IP_HEADER: "x-forwarded-for", TRUSTED_PROXY_HOPS: "1" },
    now: () => clock,
  });
  ctx.startWorker();
  account = await seedAccount(ctx.deps);
});

afterAll(async () => {
  await ctx?.close();
});

const track = (body: unknown, headers: Record<string, string> = {}) =>
  ctx.app.request("/api/v1/analytics/track", {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": freshIp(), ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("POST /api/v1/analytics/track", () => {
  it("queues one event and stores it enriched, with a truncated IP and metadata as an object", async () => {
    const eventId = randomUUID();
    const metadata = { plan: "pro", tags: ["a", "b"], nested: { ok: true, n: 1.5 }, quote: 'say "hi"' };
    const res = await track(
      pageView(account.funnelId, { event_id: eventId, user_agent: IPHONE_UA, metadata }),
      {
        "x-forwarded-for": "203.0.113.77",
      },
    );
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 1, rejected: [], not_counted: [] });
    await ctx.drained();

    const [row] = (await storedEvents(ctx.deps, account.funnelId)).filter((e) => e.eventId === eventId);
    expect(row).toMatchObject({
      accountId: account.accountId,
      eventType: "page_view",
      deviceType: "mobile",
      browser: "Safari",
      os: "iOS",
      isBot: false,
      ipAddress: "203.0.113.0",
      metadata,
    });
    expect(row?.createdAt.getTime()).toBe(row?.receivedAt.getTime());
    expect(await metadataJsonType(ctx.deps, eventId)).toBe("object");
  });

  it("takes a batch of events of every type and counts them in the rollups", async () => {
    const { funnelId } = await seedAccount(ctx.deps);
    const visitor = randomUUID();
    const session = `s-${randomUUID()}`;
    const step = randomUUID();
    const timestamp = "2026-01-15T10:20:00.000Z";
    const common = {
      funnel_id: funnelId,
      visitor_id: visitor,
      session_id: session,
      timestamp,
      user_agent: CHROME_UA,
    };
    const events = [
      pageView(funnelId, { ...common }),
      { ...common, event_type: "step_entry", funnel_step_id: step },
      { ...common, event_type: "step_exit", funnel_step_id: step, exit_outcome: "forward" },
      {
        ...common,
        event_type: "conversion",
        conversion_type: "purchase",
        value_cents: 4999,
        order_id: "o-1",
      },
      // Bots are stored but counted nowhere.
      pageView(funnelId, { timestamp, user_agent: "Googlebot/2.1 (+http://www.google.com/bot.html)" }),
    ];
    const res = await track({ events });
    expect(res.status).toBe(202);
    // The seeded funnel has no steps: its step events count for the funnel but in no step.
    expect(await res.json()).toEqual({
      accepted: 5,
      rejected: [],
      not_counted: [
        {
          index: 1,
          field: "funnel_step_id",
          reason: "unknown_step",
          message: NOT_COUNTED_MESSAGES.unknownStep,
        },
        {
          index: 2,
          field: "funnel_step_id",
          reason: "unknown_step",
          message: NOT_COUNTED_MESSAGES.unknownStep,
        },
        {
          index: 4,
          field: "user_agent",
          reason: "bot_user_agent",
          message: NOT_COUNTED_MESSAGES.botUserAgent,
        },
      ],
    });
    await ctx.drained();

    const stored = await storedEvents(ctx.deps, funnelId);
    expect(stored).toHaveLength(5);
    expect(stored.filter((e) => e.isBot)).toHaveLength(1);
    expect(stored.every((e) => e.createdAt.toISOString() === timestamp)).toBe(true);
    const counts = await eventCountRows(ctx.deps, funnelId);
    expect(counts.map((c) => [c.eventType, c.events, c.valueCents, c.conversionType, c.exitOutcome])).toEqual(
      [
        ["conversion", 1, 4999, "purchase", ""],
        ["page_view", 1, 0, "", ""],
        ["step_entry", 1, 0, "", ""],
        ["step_exit", 1, 0, "", "forward"],
      ],
    );
    expect(counts.every((c) => c.bucket.toISOString() === "2026-01-15T10:15:00.000Z")).toBe(true);
  });

  it("stores a retried event once: same event_id in two requests and twice in one batch", async () => {
    const { funnelId } = await seedAccount(ctx.deps);
    const eventId = randomUUID();
    // No client timestamp: each retry gets its own receive time, and is still the same event.
    const event = pageView(funnelId, { event_id: eventId });
    expect((await track(event)).status).toBe(202);
    clock += 10;
    expect((await track(event)).status).toBe(202);
    expect((await track({ events: [event, event] })).status).toBe(202);
    const twin = randomUUID();
    const inBatch = pageView(funnelId, { event_id: twin, timestamp: "2026-02-01T08:00:00Z" });
    expect((await track({ events: [inBatch, { ...inBatch, url: "https://other" }] })).status).toBe(202);
    await ctx.drained();

    const stored = await storedEvents(ctx.deps, funnelId);
    expect(stored.map((e) => e.eventId).sort()).toEqual([eventId, twin].sort());
    const counts = await eventCountRows(ctx.deps, funnelId);
    expect(counts.reduce((n, c) => n + c.events, 0)).toBe(2);
  });

  it("answers 400 naming index and field when no event is valid, and keeps the refused events", async () => {
    const marker = randomUUID();
    const res = await track({
      events: [
        { event_type: "page_view", funnel_id: "not-a-uuid", session_id: marker },
        { event_type: "teleport", session_id: marker },
      ],
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details: unknown } };
    expect(body.error.code).toBe("INVALID");
    expect(body.error.details).toEqual([
      {
        index: 0,
        errors: expect.arrayContaining([
          { field: "funnel_id", message: "must be a UUID" },
          expect.objectContaining({ field: "page_id" }),
        ]),
      },
      { index: 1, errors: [expect.objectContaining({ field: "event_type" })] },
    ]);
    await ctx.drained();
    const kept = (await rejectedRows(ctx.deps)).filter(
      (r) => (r.payload as { session_id?: string }).session_id === marker,
    );
    expect(kept.map((r) => [r.reason, r.source])).toEqual([
      ["invalid", "track"],
      ["invalid", "track"],
    ]);
    expect(kept[0]?.errors).toEqual(
      expect.arrayContaining([{ field: "funnel_id", message: "must be a UUID" }]),
    );
  });

  it("accepts a mixed batch with 202 and lists the refused events by index", async () => {
    const { funnelId, accountId } = await seedAccount(ctx.deps);
    const marker = randomUUID();
    const res = await track({
      events: [
        pageView(funnelId),
        { ...pageView(funnelId), visitor_id: "nope", session_id: marker },
        pageView(funnelId),
      ],
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      accepted: 2,
      rejected: [{ index: 1, errors: [{ field: "visitor_id", message: "must be a UUID" }] }],
      not_counted: [],
    });
    await ctx.drained();
    expect(await storedEvents(ctx.deps, funnelId)).toHaveLength(2);
    const kept = (await rejectedRows(ctx.deps)).filter(
      (r) => (r.payload as { session_id?: string }).session_id === marker,
    );
    expect(kept).toHaveLength(1);
    // A refused event that names a known funnel is filed under its account, for that account's operators.
    expect(kept[0]).toMatchObject({ reason: "invalid", source: "track", funnelId, accountId });
  });

  it("keeps events of a funnel the catalog does not know aside as unknown_funnel, uncounted, and says so", async () => {
    const unknown = randomUUID();
    const res = await track(pageView(unknown));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      accepted: 1,
      rejected: [],
      not_counted: [
        {
          index: 0,
          field: "funnel_id",
          reason: "unknown_funnel",
          message: NOT_COUNTED_MESSAGES.unknownFunnel,
        },
      ],
    });
    await ctx.drained();
    expect(await storedEvents(ctx.deps, unknown)).toEqual([]);
    expect(await eventCountRows(ctx.deps, unknown)).toEqual([]);
    const kept = (await rejectedRows(ctx.deps)).filter((r) => r.funnelId === unknown);
    expect(kept.map((r) => [r.reason, r.source, r.accountId])).toEqual([["unknown_funnel", "track", null]]);
  });

  it("lists by index the accepted events no report will count, one reason each, and stores them as before", async () => {
    const { accountId } = await seedAccount(ctx.deps);
    const funnelId = randomUUID();
    const body = funnelBody();
    await putFunnel(ctx.deps, { accountId }, { id: funnelId, ...body });
    const [step] = body.steps;
    const unknownFunnel = randomUUID();
    const unknownStep = randomUUID();
    const marker = `s-${randomUUID()}`;
    const stepEvent = (stepId: string | undefined, overrides: Record<string, unknown> = {}) => ({
      ...pageView(funnelId, { session_id: marker }),
      event_type: "step_entry",
      funnel_step_id: stepId,
      ...overrides,
    });
    const { user_agent: _, ...noAgent } = pageView(funnelId, { session_id: marker });
    const events = [
      stepEvent(step?.id.toUpperCase()),
      stepEvent(unknownStep),
      pageView(unknownFunnel, { session_id: marker }),
      pageView(funnelId, { session_id: marker, user_agent: GOOGLEBOT_UA }),
      noAgent,
      { ...pageView(funnelId, { session_id: marker }), visitor_id: "nope" },
      pageView(unknownFunnel, { session_id: marker, user_agent: GOOGLEBOT_UA }),
      stepEvent(unknownStep, { user_agent: GOOGLEBOT_UA }),
    ];
    // No User-Agent header: a missing agent is never by itself a bot's.
    const res = await track({ events });
    expect(res.status).toBe(202);
    const answer = (await res.json()) as {
      accepted: number;
      rejected: { index: number }[];
      not_counted: unknown[];
    };
    expect(answer.accepted).toBe(7);
    expect(answer.rejected.map((r) => r.index)).toEqual([5]);
    expect(answer.not_counted).toEqual([
      {
        index: 1,
        field: "funnel_step_id",
        reason: "unknown_step",
        message: NOT_COUNTED_MESSAGES.unknownStep,
      },
      { index: 2, field: "funnel_id", reason: "unknown_funnel", message: NOT_COUNTED_MESSAGES.unknownFunnel },
      { index: 3, field: "user_agent", reason: "bot_user_agent", message: NOT_COUNTED_MESSAGES.botUserAgent },
      { index: 6, field: "funnel_id", reason: "unknown_funnel", message: NOT_COUNTED_MESSAGES.unknownFunnel },
      { index: 7, field: "user_agent", reason: "bot_user_agent", message: NOT_COUNTED_MESSAGES.botUserAgent },
    ]);

    await ctx.drained();
    const stored = await storedEvents(ctx.deps, funnelId);
    expect(stored.map((e) => e.sessionId)).toEqual(Array(5).fill(marker));
    expect(stored.filter((e) => e.funnelStepId === unknownStep)).toHaveLength(2);
    const kept = (await rejectedRows(ctx.deps)).filter(
      (r) => (r.payload as { session_id?: string }).session_id === marker,
    );
    expect(kept.map((r) => r.reason).sort()).toEqual(["invalid", "unknown_funnel", "unknown_funnel"]);
  });

  it("names the request's User-Agent when it is a bot's and the event brings none of its own", async () => {
    const res = await track(
      { events: [pageView(account.funnelId, { user_agent: undefined }), pageView(account.funnelId)] },
      { "user-agent": GOOGLEBOT_UA },
    );
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      accepted: 2,
      rejected: [],
      not_counted: [
        { index: 0, field: "user_agent", reason: "bot_user_agent", message: NOT_COUNTED_MESSAGES.botHeader },
      ],
    });
    await ctx.drained();
  });

  it("answers with the catalog as it is: a step added, then the funnel deleted, are seen at once", async () => {
    const { accountId } = await seedAccount(ctx.deps);
    const funnelId = randomUUID();
    const body = funnelBody();
    await putFunnel(ctx.deps, { accountId }, { id: funnelId, ...body });
    const added = randomUUID();
    const event = () => ({ ...pageView(funnelId), event_type: "step_entry", funnel_step_id: added });
    const reasons = async () =>
      ((await (await track(event())).json()) as { not_counted: { reason: string }[] }).not_counted.map(
        (n) => n.reason,
      );
    expect(await reasons()).toEqual(["unknown_step"]);
    const steps = [...body.steps, { id: added, name: "Upsell", step_type: "upsell", position: 4 }];
    await putFunnel(ctx.deps, { accountId }, { id: funnelId, ...body, steps });
    expect(await reasons()).toEqual([]);
    await deleteFunnel(ctx.deps, { accountId }, { id: funnelId });
    expect(await reasons()).toEqual(["unknown_funnel"]);
    await ctx.drained();
  });

  it("answers 400 naming the body when it is not JSON or not an event", async () => {
    const notJson = await track("{not json");
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({
      error: { code: "INVALID", details: [{ field: "body", message: "must be valid JSON" }] },
    });
    const tooMany = await track({ events: Array.from({ length: 101 }, () => pageView(account.funnelId)) });
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toMatchObject({ error: { details: [{ field: "events" }] } });
  });

  it("answers 413 to a body over TRACK_BODY_LIMIT_BYTES", async () => {
    const app = createApp({ ...ctx.deps, config: { ...ctx.deps.config, TRACK_BODY_LIMIT_BYTES: 4096 } });
    const res = await app.request("/api/v1/analytics/track", {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": freshIp() },
      body: JSON.stringify(pageView(account.funnelId, { metadata: { pad: "x".repeat(5000) } })),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: "PAYLOAD_TOO_LARGE" } });
  });

  it("limits each client IP to 100 events per second, counted in events", async () => {
    const ip = freshIp();
    const batch = { events: Array.from({ length: 100 }, () => pageView(account.funnelId)) };
    expect((await track(batch, { "x-forwarded-for": ip })).status).toBe(202);
    const limited = await track(pageView(account.funnelId), { "x-forwarded-for": ip });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
    expect(await limited.json()).toMatchObject({ error: { code: "RATE_LIMITED" } });
    // Prepending addresses to X-Forwarded-For does not make a new client: the proxy's entry counts.
    const spoofed = await track(pageView(account.funnelId), { "x-forwarded-for": `10.9.8.7, ${ip}` });
    expect(spoofed.status).toBe(429);
    // Another address has its own budget.
    expect((await track(pageView(account.funnelId))).status).toBe(202);
    clock += 1_000;
    expect((await track(pageView(account.funnelId), { "x-forwarded-for": ip })).status).toBe(202);
    await ctx.drained();
  });

  it("without CLIENT_IP_HEADER, a client-sent X-Forwarded-For does not change the client", async () => {
    const app = createApp({ ...ctx.deps, config: { ...ctx.deps.config, CLIENT_IP_HEADER: undefined } });
    const send = (events: number, forwardedFor: string) =>
      app.request("/api/v1/analytics/track", {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": forwardedFor },
        body: JSON.stringify({ events: Array.from({ length: events }, () => pageView(account.funnelId)) }),
      });
    clock += 5_000;
    expect((await send(100, "192.0.2.1")).status).toBe(202);
    expect((await send(1, "192.0.2.2")).status).toBe(429);
    clock += 5_000;
    await ctx.drained();
  });

  it("answers CORS preflights so browsers can post from any site", async () => {
    const res = await ctx.app.request("/api/v1/analytics/track", {
      method: "OPTIONS",
      headers: { origin: "https://shop.example.com", "access-control-request-method": "POST" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });
});
