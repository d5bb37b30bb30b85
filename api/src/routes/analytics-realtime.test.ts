import { randomUUID } from "node:crypto";
import { writeBatch } from "@funnel/db/queries/events";
import type { AcceptedEvent, TrackEvent } from "@funnel/events";
import { storedEvent, USER_AGENTS } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIngestTestContext, type IngestTestContext, seedAccount } from "../ingest/testing";
import type { RealtimeView } from "../services/analytics/realtime";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  describeAuthCases,
  type EventPipeline,
  type FunnelBody,
  seedFunnel,
  startEventPipeline,
  type TestApp,
} from "../testing";

const MIN = 60_000;
const BOTS = new Set<string>([USER_AGENTS.googlebot, USER_AGENTS.bingbot]);

/**
 * Traffic around `now`: visitors moving through steps, one gone quiet, a bot, conversions inside
 * and outside the 5-minute window, 55 page views of one busy visitor, and a late event from three
 * hours ago sent last. Every event time is distinct, and far from a window's edge.
 */
function scenario(funnelId: string, steps: string[], now: number): TrackEvent[] {
  const [s1, s2, s3] = steps as [string, string, string];
  let tick = 0;
  const event = (visitor: string, minutesAgo: number, fields: Record<string, unknown>): TrackEvent =>
    ({
      event_id: randomUUID(),
      funnel_id: funnelId,
      visitor_id: visitor,
      session_id: `s-${visitor.slice(0, 8)}`,
      user_agent: USER_AGENTS.safariIphone,
      timestamp: new Date(now - minutesAgo * MIN - ++tick).toISOString(),
      ...fields,
    }) as TrackEvent;
  const entry = (step: string) => ({ event_type: "step_entry", funnel_step_id: step });
  const view = { event_type: "page_view", page_id: randomUUID() };
  const [a, b, c, bot, e, f, busy, late] = Array.from({ length: 8 }, () => randomUUID()) as string[] as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return [
    event(a, 20, entry(s1)),
    event(a, 10, entry(s2)),
    event(a, 2, view),
    event(b, 40, entry(s1)),
    event(b, 5.5, view),
    event(c, 45, view),
    event(bot, 1, { ...entry(s1), user_agent: USER_AGENTS.googlebot }),
    event(bot, 1, {
      event_type: "conversion",
      conversion_type: "purchase",
      value_cents: 9_900,
      user_agent: USER_AGENTS.googlebot,
    }),
    event(e, 3, entry(s3)),
    event(e, 2, { event_type: "conversion", conversion_type: "purchase", value_cents: 2_500 }),
    event(e, 7, { event_type: "conversion", conversion_type: "purchase", value_cents: 1_000 }),
    event(f, 1, { event_type: "conversion", conversion_type: "signup" }),
    ...Array.from({ length: 55 }, (_, i) => event(busy, 1 + i * 0.4, view)),
    event(late, 180, { event_type: "conversion", conversion_type: "purchase", value_cents: 700 }),
  ];
}

/** METRICS.md "Real-time" applied to the raw events in plain code. */
function expectedView(events: TrackEvent[], funnelId: string, steps: FunnelBody["steps"], now: number) {
  const human = events.filter((e) => e.funnel_id === funnelId && !BOTS.has(e.user_agent ?? ""));
  const time = (e: TrackEvent) => Date.parse(e.timestamp ?? "");
  const active = human.filter((e) => time(e) >= now - 30 * MIN);
  const latestEntry = new Map<string, TrackEvent>();
  for (const e of active) {
    if (e.event_type !== "step_entry") continue;
    const seen = latestEntry.get(e.visitor_id);
    if (!seen || time(e) > time(seen)) latestEntry.set(e.visitor_id, e);
  }
  const stepOf = (e: TrackEvent) =>
    e.event_type === "step_entry" || e.event_type === "step_exit" ? e.funnel_step_id : null;
  const conversions = human.filter((e) => e.event_type === "conversion" && time(e) >= now - 5 * MIN);
  return {
    funnel_id: funnelId,
    timestamp: new Date(now).toISOString(),
    active_visitors: {
      total: new Set(active.map((e) => e.visitor_id)).size,
      by_step: [...steps]
        .sort((x, y) => x.position - y.position)
        .map((s) => ({
          step_id: s.id,
          step_name: s.name,
          visitors: [...latestEntry.values()].filter((e) => stepOf(e) === s.id).length,
        })),
    },
    recent_events: [...human]
      .sort((x, y) => time(y) - time(x))
      .slice(0, 50)
      .map((e) => ({
        event_type: e.event_type,
        step_id: stepOf(e) ?? null,
        timestamp: e.timestamp,
        session_id: e.session_id,
      })),
    conversions_last_5min: {
      count: conversions.length,
      value_cents: conversions.reduce(
        (sum, e) => sum + (e.event_type === "conversion" ? (e.value_cents ?? 0) : 0),
        0,
      ),
    },
  };
}

const path = (funnelId: string) => `/api/v1/analytics/funnels/${funnelId}/realtime`;

describe("GET /api/v1/analytics/funnels/{id}/realtime (embedded: in-process queue and store)", () => {
  let t: TestApp;
  let pipeline: EventPipeline;
  let a: AccountWithKey;
  beforeAll(async () => {
    t = await createTestApp();
    pipeline = startEventPipeline(t);
    a = await createAccountWithKey(t.deps.database);
  });
  afterAll(async () => {
    await pipeline?.close();
    await t?.close();
  });

  it("shows active visitors by step, the newest events and recent conversions, from raw events", async () => {
    const { funnelId, body } = await seedFunnel(t.app, a.headers);
    const events = scenario(
      funnelId,
      body.steps.map((s) => s.id),
      Date.now(),
    );
    await pipeline.importEvents(a.headers, events);
    const response = await t.app.request(path(funnelId), { headers: a.headers });
    expect(response.status).toBe(200);
    const view = (await response.json()) as RealtimeView;
    const expected = expectedView(events, funnelId, body.steps, Date.parse(view.timestamp));
    expect(view).toEqual(expected);
    // By hand: a, b, e, f and the busy visitor are active (c is quiet, the bot and the late one do
    // not count); a is at step 2, e at step 3, b has no entry in the window.
    expect(view.active_visitors.total).toBe(5);
    expect(view.active_visitors.by_step.map((s) => s.visitors)).toEqual([0, 1, 1]);
    expect(view.conversions_last_5min).toEqual({ count: 2, value_cents: 2_500 });
    expect(view.recent_events).toHaveLength(50);
  });

  it("serves a 5-second cache per account, and never the events table", async () => {
    const { funnelId, body } = await seedFunnel(t.app, a.headers);
    const first = (await (
      await t.app.request(path(funnelId), { headers: a.headers })
    ).json()) as RealtimeView;
    expect(first.active_visitors.total).toBe(0);
    const events = scenario(
      funnelId,
      body.steps.map((s) => s.id),
      Date.now(),
    );
    await pipeline.importEvents(a.headers, events);
    // Within 5 seconds: the cached answer, with the time it was taken.
    const cached = (await (
      await t.app.request(path(funnelId), { headers: a.headers })
    ).json()) as RealtimeView;
    expect(cached).toEqual(first);
    // Another account never gets it.
    const b = await createAccountWithKey(t.deps.database);
    expect((await t.app.request(path(funnelId), { headers: b.headers })).status).toBe(404);
    await t.deps.cache.deleteByPrefix("realtime:");
    const fresh = (await (
      await t.app.request(path(funnelId), { headers: a.headers })
    ).json()) as RealtimeView;
    expect(fresh.active_visitors.total).toBe(5);

    // Events stored without passing the worker's feed are not seen: the answer comes from the
    // real-time store, not from a scan of analytics_events.
    const other = await seedFunnel(t.app, a.headers);
    const written = await writeBatch(
      t.deps.database.db,
      {
        source: "import",
        accountId: a.accountId,
        accepted: [acceptedPageView(other.funnelId)],
        rejected: [],
      },
      { batchId: randomUUID() },
    );
    expect(written.inserted).toBe(1);
    const unseen = (await (
      await t.app.request(path(other.funnelId), { headers: a.headers })
    ).json()) as RealtimeView;
    expect(unseen.active_visitors.total).toBe(0);
    expect(unseen.recent_events).toEqual([]);
  });

  it("reads the store once for concurrent requests when the cached answer has expired", async () => {
    const { funnelId, body } = await seedFunnel(t.app, a.headers);
    await pipeline.importEvents(
      a.headers,
      scenario(
        funnelId,
        body.steps.map((s) => s.id),
        Date.now(),
      ),
    );
    const store = t.deps.realtime;
    const snapshot = store.snapshot.bind(store);
    let reads = 0;
    store.snapshot = async (...args) => {
      reads++;
      // Slow enough that every request below arrives while the first one reads.
      await new Promise((r) => setTimeout(r, 50));
      return snapshot(...args);
    };
    try {
      await t.deps.cache.deleteByPrefix("realtime:");
      const answers = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const response = await t.app.request(path(funnelId), { headers: a.headers });
          expect(response.status).toBe(200);
          return (await response.json()) as RealtimeView;
        }),
      );
      expect(reads).toBe(1);
      for (const answer of answers) expect(answer).toEqual(answers[0]);
      expect(answers[0]?.active_visitors.total).toBe(5);
    } finally {
      store.snapshot = snapshot;
    }
  });

  it("answers 400 for a funnel id that is not a UUID", async () => {
    expect((await t.app.request(path("nope"), { headers: a.headers })).status).toBe(400);
  });

  describeAuthCases(
    "GET /api/v1/analytics/funnels/{id}/realtime",
    () => t,
    async ({ app, owner, headers }) => {
      const funnel = await seedFunnel(app, owner.headers);
      return app.request(path(funnel.funnelId), { headers });
    },
  );
});

describe("GET /api/v1/analytics/funnels/{id}/realtime (BullMQ worker and Redis store)", () => {
  let ctx: IngestTestContext;
  beforeAll(async () => {
    ctx = await createIngestTestContext();
    ctx.startWorker();
  });
  afterAll(async () => {
    await ctx?.close();
  });

  it("shows what the worker fed into Redis, matching the raw events", async () => {
    const { apiKey, accountId } = await seedAccount(ctx.deps);
    const headers = { authorization: `Bearer ${apiKey}` };
    const { funnelId, body } = await seedFunnel(ctx.app, headers);
    const events = scenario(
      funnelId,
      body.steps.map((s) => s.id),
      Date.now(),
    );
    const response = await ctx.app.request("/api/v1/analytics/import", {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ events }),
    });
    expect(response.status).toBe(202);
    await ctx.drained();
    const view = (await (await ctx.app.request(path(funnelId), { headers })).json()) as RealtimeView;
    expect(view).toEqual(expectedView(events, funnelId, body.steps, Date.parse(view.timestamp)));
    // Keyed by account and funnel: another account's events under the same funnel id stay apart.
    const keys = await ctx.redis.keys(`${ctx.prefix}:rt:*${funnelId}}:*`);
    expect(keys.sort()).toEqual(
      ["conversions", "entries", "recent", "visitors"].map(
        (k) => `${ctx.prefix}:rt:{${accountId}:${funnelId}}:${k}`,
      ),
    );
  });
});

function acceptedPageView(funnelId: string): AcceptedEvent {
  const now = new Date().toISOString();
  return storedEvent({
    event_type: "page_view",
    funnel_id: funnelId,
    session_id: "s-direct",
    visitor_id: randomUUID(),
    occurred_at: now,
    received_at: now,
    page_id: randomUUID(),
  });
}
