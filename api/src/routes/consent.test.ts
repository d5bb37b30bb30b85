import { randomUUID } from "node:crypto";
import { testServices } from "@funnel/db/testing";
import type { TrackEvent } from "@funnel/events";
import { type FunnelFixture, generateTraffic, springSale, USER_AGENTS, webinar } from "@funnel/fixtures";
import { parsePeriod } from "@funnel/metrics";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RawEvent, RefFunnel } from "../../../test/reference/reports";
import * as reference from "../../../test/reference/reports";
import { RedisCache } from "../infra/cache-redis";
import { RedisRealtimeStore } from "../realtime/store-redis";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  describeAuthCases,
  type EventPipeline,
  figuresOf,
  putAbTestRequest,
  putFunnelRequest,
  rowsContaining,
  type StoredEventRow,
  seedFunnel,
  startEventPipeline,
  storedEventRows,
  storedRawEvents,
  storedRejectedPayloads,
  type TestApp,
  tablesWithColumn,
} from "../testing";

/**
 * POST /api/v1/analytics/visitors/{visitor_id}/consent-withdrawn, with the production cache and
 * real-time store (Redis): realistic traffic of two funnels goes in through /import, every report
 * route answers, one converting visitor of both funnels (with an open session and refused events)
 * withdraws. Every report then gives the same figures (the visitor's and its sessions' ids replaced
 * by the anonymous ones the rows now carry), computed afresh rather than served from the cache; its
 * journey is a 404; no row of any table holds its id or its personal fields; a later event of it is
 * stored anonymised and counted; other visitors and another account's visitor of the same id keep
 * everything.
 */

const FUNNELS: FunnelFixture[] = [springSale, webinar];
const MIN = 60_000;
const PERIOD = { date_from: "2026-10-01", date_to: "2026-11-30" };
const ORIGINAL_URL = "https://shop.example.com/spring/offer?email=jane%40example.com&utm_source=mail#top";
const REFERRER = "https://mail.example.net/inbox?user=jane";

const isBot = (e: TrackEvent) =>
  e.user_agent === USER_AGENTS.googlebot || e.user_agent === USER_AGENTS.bingbot;

let redis: Redis;
const prefix = `test-${randomUUID()}`;
let t: TestApp;
let pipeline: EventPipeline;
let a: AccountWithKey;
let b: AccountWithKey;

/** The visitor who withdraws, in account A; account B has a visitor of the same id. */
let withdrawn: string;
/** Shares one of the withdrawn visitor's sessions. */
let sharer: string;
let bFunnelId: string;
let sent: TrackEvent[];
let abTestId: string;

interface Snapshot {
  reports: Map<string, unknown>;
  rows: StoredEventRow[];
  journeyOfB: unknown;
}
let before: Snapshot;
let after: Snapshot;
let firstCall: { status: number; body: { events: number; withdrawn_at: string; visitor_id: string } };

function traffic(now: number): TrackEvent[] {
  const window = { from: new Date("2026-10-01T00:00:00Z"), to: new Date("2026-11-29T00:00:00Z") };
  const spring = generateTraffic({ funnel: springSale, ...window, visitors: 60, seed: 9301, botShare: 0.08 });
  const web = generateTraffic({ funnel: webinar, ...window, visitors: 50, seed: 9402, botShare: 0.08 });
  // The visitor who withdraws: a human who bought, in several sessions.
  const score = new Map<string, number>();
  for (const e of spring) {
    if (isBot(e)) continue;
    score.set(e.visitor_id, (score.get(e.visitor_id) ?? 0) + (e.event_type === "conversion" ? 10 : 1));
  }
  const buyers = spring.filter((e) => e.event_type === "conversion" && e.conversion_type === "purchase");
  withdrawn = [...new Set(buyers.map((e) => e.visitor_id))].sort(
    (x, y) => (score.get(y) ?? 0) - (score.get(x) ?? 0),
  )[0] as string;
  // It visits the webinar funnel too, under the same id.
  const webHuman = web.find((e) => !isBot(e))?.visitor_id;
  const web2 = web.map((e) => (e.visitor_id === webHuman ? { ...e, visitor_id: withdrawn } : e));
  // Its events carry every personal field.
  const personal = (e: TrackEvent): TrackEvent =>
    e.visitor_id === withdrawn
      ? ({
          ...e,
          url: e.event_type === "page_view" ? ORIGINAL_URL : e.url,
          referrer: REFERRER,
          ip_address: "198.51.100.77",
          metadata: { ...(e.metadata ?? {}), email: "jane@example.com" },
        } as TrackEvent)
      : e;
  // Another visitor's event in one of its sessions (an import source's own session ids).
  sharer = spring.find((e) => !isBot(e) && e.visitor_id !== withdrawn)?.visitor_id as string;
  const sharedSession = spring.find((e) => e.visitor_id === withdrawn) as TrackEvent;
  const shared = {
    ...sharedSession,
    event_id: randomUUID(),
    visitor_id: sharer,
    timestamp: new Date(Date.parse(sharedSession.timestamp ?? "") + 1_000).toISOString(),
  } as TrackEvent;
  // Active now: an open session of the withdrawn visitor and another visitor's.
  const at = (minutesAgo: number) => new Date(now - minutesAgo * MIN).toISOString();
  const live = (visitor: string, session: string, minutesAgo: number, fields: Record<string, unknown>) =>
    ({
      event_id: randomUUID(),
      funnel_id: springSale.id,
      session_id: session,
      visitor_id: visitor,
      user_agent: USER_AGENTS.safariIphone,
      timestamp: at(minutesAgo),
      ...fields,
    }) as TrackEvent;
  const open = randomUUID();
  const other = randomUUID();
  const step = springSale.steps[0]?.id;
  return [
    ...spring,
    ...web2,
    shared,
    live(withdrawn, open, 20, {
      event_type: "page_view",
      page_id: springSale.pages[0]?.id,
      url: ORIGINAL_URL,
    }),
    live(withdrawn, open, 18, { event_type: "step_entry", funnel_step_id: step }),
    live(withdrawn, open, 16, {
      event_type: "step_exit",
      funnel_step_id: step,
      exit_outcome: "bounce",
      metadata: { reason: "price_too_high" },
    }),
    live(sharer, other, 15, { event_type: "step_entry", funnel_step_id: step }),
  ].map(personal);
}

/** An import batch with a refused item and an unknown funnel's event, both naming `visitor`. */
function refusedOf(visitor: string): unknown[] {
  const base = {
    session_id: randomUUID(),
    visitor_id: visitor,
    url: ORIGINAL_URL,
    referrer: REFERRER,
    user_agent: USER_AGENTS.chromeWindows,
    ip_address: "198.51.100.77",
    metadata: { email: "jane@example.com" },
    timestamp: "2026-11-02T10:00:00.000Z",
  };
  return [
    // Refused as sent: with a field no event has, which may hold anything.
    {
      ...base,
      event_id: randomUUID(),
      event_type: "page_view",
      funnel_id: springSale.id,
      page_id: "nope",
      customer: { email: "jane@example.com", name: "Jane Doe" },
    },
    {
      ...base,
      event_id: randomUUID(),
      event_type: "page_view",
      funnel_id: randomUUID(),
      page_id: randomUUID(),
    },
    // A valid event keeps the batch from being refused as a whole.
    {
      ...base,
      event_id: randomUUID(),
      event_type: "page_view",
      funnel_id: webinar.id,
      page_id: randomUUID(),
    },
  ];
}

const query = (extra: Record<string, string> = {}) => new URLSearchParams({ ...PERIOD, ...extra }).toString();

/** Every report route of both funnels, by a name for the failure message. */
function reportPaths(): [string, string][] {
  const paths: [string, string][] = [];
  for (const f of FUNNELS) {
    const base = `/api/v1/analytics/funnels/${f.id}`;
    paths.push([`${f.name} overview`, `${base}/overview?${query()}`]);
    for (const s of f.steps) paths.push([`${f.name} step ${s.name}`, `${base}/steps/${s.id}?${query()}`]);
    paths.push([`${f.name} conversions`, `${base}/conversions?${query({ page_size: "500" })}`]);
    paths.push([`${f.name} dropoffs`, `${base}/dropoffs?${query()}`]);
    paths.push([`${f.name} revenue`, `${base}/revenue?${query({ granularity: "week" })}`]);
    paths.push([`${f.name} realtime`, `${base}/realtime`]);
  }
  paths.push([
    "ab-tests",
    `/api/v1/analytics/funnels/${springSale.id}/ab-tests?${query({ test_id: abTestId })}`,
  ]);
  return paths;
}

async function getJson(path: string, headers = a.headers) {
  const response = await t.app.request(path, { headers });
  const body = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
  // The real-time answer's own time is the request's.
  if (path.endsWith("/realtime")) {
    delete body.timestamp;
    return body;
  }
  // A/B results read the stored events themselves: only the rollup reports state data_through.
  return path.includes("/ab-tests") ? body : figuresOf(body);
}

async function snapshot(): Promise<Snapshot> {
  const reports = new Map<string, unknown>();
  for (const [name, path] of reportPaths()) reports.set(name, await getJson(path));
  const journey = await t.app.request(`/api/v1/analytics/visitors/${withdrawn}/journey`, {
    headers: b.headers,
  });
  return { reports, rows: await storedEventRows(t), journeyOfB: await journey.json() };
}

function withdraw(visitor: string, headers = a.headers) {
  return t.app.request(`/api/v1/analytics/visitors/${visitor}/consent-withdrawn`, {
    method: "POST",
    headers,
  });
}

beforeAll(async () => {
  redis = new Redis(testServices().redisUrl);
  t = await createTestApp({
    realtime: new RedisRealtimeStore(redis, `${prefix}:rt:`),
    cache: new RedisCache(redis, `${prefix}:cache:`),
    config: { REPORT_CACHE_SECONDS: 3_600 },
  });
  pipeline = startEventPipeline(t);
  a = await createAccountWithKey(t.deps.database);
  b = await createAccountWithKey(t.deps.database);
  for (const f of FUNNELS) {
    const response = await putFunnelRequest(t.app, a.headers, f.id, {
      name: f.name,
      steps: f.steps.map((s) => ({ id: s.id, name: s.name, step_type: s.step_type, position: s.position })),
      pages: f.pages,
    });
    if (response.status !== 200) throw new Error(`funnel: ${response.status}`);
  }
  const test = springSale.abTest;
  if (!test) throw new Error("the Spring Sale fixture has an A/B test");
  abTestId = test.id;
  const abTest = await putAbTestRequest(t.app, a.headers, test.id, {
    funnel_id: springSale.id,
    test_name: test.test_name,
    status: test.status,
    started_at: "2026-09-01T00:00:00.000Z",
    variants: test.variants,
  });
  if (abTest.status !== 200) throw new Error(`ab test: ${abTest.status}`);

  sent = traffic(Date.now());
  await pipeline.importEvents(a.headers, sent);
  const refused = await t.app.request("/api/v1/analytics/import", {
    method: "POST",
    headers: { ...a.headers, "content-type": "application/json" },
    body: JSON.stringify({ events: refusedOf(withdrawn) }),
  });
  if (refused.status !== 202) throw new Error(`import: ${refused.status}`);
  await pipeline.importEvents(a.headers, []);

  // Account B: a visitor with the same id, in its own funnel.
  bFunnelId = (await seedFunnel(t.app, b.headers)).funnelId;
  await pipeline.importEvents(b.headers, [
    {
      event_id: randomUUID(),
      event_type: "page_view",
      funnel_id: bFunnelId,
      page_id: randomUUID(),
      session_id: randomUUID(),
      visitor_id: withdrawn,
      url: ORIGINAL_URL,
      referrer: REFERRER,
      user_agent: USER_AGENTS.firefoxLinux,
      ip_address: "198.51.100.77",
      metadata: { email: "jane@example.com" },
      timestamp: "2026-11-03T09:00:00.000Z",
    } as TrackEvent,
  ]);

  before = await snapshot();
  const response = await withdraw(withdrawn);
  firstCall = { status: response.status, body: (await response.json()) as typeof firstCall.body };
  after = await snapshot();
}, 300_000);

afterAll(async () => {
  await pipeline?.close();
  await t?.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const ofAccount = (rows: StoredEventRow[], accountId: string) =>
  rows.filter((r) => r.account_id === accountId);
const withdrawnIds = () =>
  new Set(
    ofAccount(before.rows, a.accountId)
      .filter((r) => r.visitor_id === withdrawn)
      .map((r) => r.event_id),
  );

/** Old id → new id of the visitor and of its sessions, read from its rows before and after. */
function renames(): Map<string, string> {
  const ids = withdrawnIds();
  const newRow = new Map(after.rows.map((r) => [r.event_id, r]));
  const map = new Map<string, string>();
  for (const old of before.rows.filter((r) => ids.has(r.event_id))) {
    const now = newRow.get(old.event_id);
    if (!now) throw new Error(`event ${old.event_id} is gone`);
    map.set(old.visitor_id, now.visitor_id);
    if (old.session_id !== now.session_id) map.set(old.session_id, now.session_id);
  }
  return map;
}

function replaced(value: unknown, map: Map<string, string>): unknown {
  let text = JSON.stringify(value);
  for (const [from, to] of map) text = text.split(from).join(to);
  return JSON.parse(text);
}

const refFunnel = (f: FunnelFixture): RefFunnel => ({
  id: f.id,
  name: f.name,
  steps: f.steps.map((s) => ({ id: s.id, name: s.name, step_type: s.step_type, position: s.position })),
});

describe("consent withdrawal", () => {
  it("answers 202 with the events it anonymised", () => {
    expect(firstCall.status).toBe(202);
    expect(firstCall.body.visitor_id).toBe(withdrawn);
    expect(firstCall.body.events).toBe(withdrawnIds().size);
    // The visitor has counted events in both funnels, an open session and a shared session.
    const mine = ofAccount(before.rows, a.accountId).filter((r) => r.visitor_id === withdrawn);
    expect(new Set(mine.map((r) => r.funnel_id))).toEqual(new Set([springSale.id, webinar.id]));
    expect(mine.some((r) => Date.now() - Date.parse(r.created_at) < 30 * MIN)).toBe(true);
    expect(mine.some((r) => r.event_type === "conversion" && r.metadata.products !== undefined)).toBe(true);
  });

  it("stored the visitor's IP truncated to its /24 before (the API truncates when no edge did)", () => {
    const mine = ofAccount(before.rows, a.accountId).filter((r) => r.visitor_id === withdrawn);
    expect(mine.map((r) => r.ip_address)).toEqual(mine.map(() => "198.51.100.0"));
  });

  it("keeps every report's figures; only the visitor's and its sessions' ids change", () => {
    const map = renames();
    expect(map.get(withdrawn)).toMatch(/^[0-9a-f-]{36}$/);
    expect(map.get(withdrawn)).not.toBe(withdrawn);
    expect(map.size).toBeGreaterThan(2);
    for (const [name] of reportPaths()) {
      expect(after.reports.get(name), name).toEqual(replaced(before.reports.get(name), map));
    }
  });

  it("computes the reports afresh: the cached list of converting visitors is not served", () => {
    const listed = (name: string) =>
      (
        (after.reports.get(name) as { converting_visitors: { visitor_id: string }[] }).converting_visitors ??
        []
      ).map((v) => v.visitor_id);
    const beforeIds = (
      before.reports.get("Spring Sale conversions") as { converting_visitors: { visitor_id: string }[] }
    ).converting_visitors.map((v) => v.visitor_id);
    expect(beforeIds).toContain(withdrawn);
    expect(listed("Spring Sale conversions")).not.toContain(withdrawn);
    expect(listed("Spring Sale conversions")).toContain(renames().get(withdrawn));
    for (const [name, body] of after.reports) expect(JSON.stringify(body), name).not.toContain(withdrawn);
  });

  it("gives reports equal to the reference computed from the anonymised rows, but for what the rollups keep", async () => {
    const events = (await storedRawEvents(t)) as unknown as RawEvent[];
    const period = parsePeriod(PERIOD);
    const ref = { start: period.start, end: period.end, timeZone: period.timeZone };
    for (const f of FUNNELS) {
      expect(after.reports.get(`${f.name} overview`)).toEqual(reference.overview(events, refFunnel(f), ref));
      expect(after.reports.get(`${f.name} conversions`)).toEqual(
        reference.conversions(events, refFunnel(f), ref, "day", 1, 500),
      );
      // A session's source (from its referrer) and an order's products (from its metadata) were
      // derived at ingest and stay in the rollups, so that figures do not move; the raw row has lost
      // the fields they came from.
      const {
        by_source: _s,
        top_products: _p,
        ...revenue
      } = after.reports.get(`${f.name} revenue`) as Record<string, unknown>;
      const {
        by_source: _rs,
        top_products: _rp,
        ...expected
      } = reference.revenue(events, refFunnel(f), ref, "week") as Record<string, unknown>;
      expect(revenue).toEqual(expected);
    }
  });

  it("makes the visitor's journey a 404", async () => {
    const response = await t.app.request(`/api/v1/analytics/visitors/${withdrawn}/journey`, {
      headers: a.headers,
    });
    expect(response.status).toBe(404);
  });

  it("clears the personal fields of each of its events, and keeps what reports count", () => {
    const ids = withdrawnIds();
    const was = new Map(before.rows.map((r) => [r.event_id, r]));
    const rows = after.rows.filter((r) => ids.has(r.event_id));
    expect(rows.length).toBe(ids.size);
    for (const row of rows) {
      const old = was.get(row.event_id) as StoredEventRow;
      expect(row.visitor_id).not.toBe(withdrawn);
      expect(row.ip_address).toBeNull();
      expect(row.user_agent).toBeNull();
      expect(row.referrer).toBeNull();
      expect(row.metadata).toEqual({});
      // Scheme, host and path stay; the query string and fragment go.
      expect(row.url).toBe(old.url === null ? null : (old.url.split(/[?#]/)[0] as string));
      expect(row.url ?? "").not.toMatch(/[?#]/);
      expect({
        ...row,
        visitor_id: "",
        session_id: "",
        url: "",
        ip_address: "",
        user_agent: "",
        referrer: "",
        metadata: {},
      }).toEqual({
        ...old,
        visitor_id: "",
        session_id: "",
        url: "",
        ip_address: "",
        user_agent: "",
        referrer: "",
        metadata: {},
      });
    }
    expect(rows.some((r) => r.url === "https://shop.example.com/spring/offer")).toBe(true);
  });

  it("leaves no row of any table of account A holding the visitor id", async () => {
    const tables = await tablesWithColumn(t, "visitor_id");
    expect(tables).toContain("analytics_events");
    expect(tables.filter((name) => name.startsWith("agg_")).length).toBeGreaterThanOrEqual(8);
    // Every table is searched, every column as text (refused payloads included); account B's own
    // visitor of the same id is the only one left with it.
    expect(await rowsContaining(t, withdrawn, { exceptAccount: b.accountId })).toEqual({});
    expect(Object.keys(await rowsContaining(t, withdrawn))).toContain("agg_sessions");
    // Nor anything it sent that names the person: the e-mail address in its URLs, metadata and
    // refused payloads, the IP address, the referrer.
    for (const personal of ["jane", "198.51.100", "mail.example.net/inbox"]) {
      expect(await rowsContaining(t, personal, { exceptAccount: b.accountId }), personal).toEqual({});
    }
    expect(ofAccount(after.rows, a.accountId).some((r) => r.visitor_id === withdrawn)).toBe(false);
  });

  it("anonymises the refused events that name the visitor", async () => {
    const payloads = (await storedRejectedPayloads(t)).filter((r) => r.account_id === a.accountId);
    expect(payloads.length).toBe(2);
    for (const { payload } of payloads) {
      expect(payload.visitor_id).not.toBe(withdrawn);
      expect(payload.ip_address).toBeNull();
      expect(payload.user_agent).toBeNull();
      expect(payload.referrer).toBeNull();
      expect(payload.metadata).toEqual({});
      expect(payload.url).toBe("https://shop.example.com/spring/offer");
    }
  });

  it("leaves every other event, and account B's visitor of the same id, untouched", () => {
    const ids = withdrawnIds();
    const others = (rows: StoredEventRow[]) =>
      rows.filter((r) => !ids.has(r.event_id)).sort((x, y) => (x.event_id < y.event_id ? -1 : 1));
    expect(others(after.rows)).toEqual(others(before.rows));
    const ofB = ofAccount(after.rows, b.accountId);
    expect(ofB.map((r) => r.visitor_id)).toEqual([withdrawn]);
    expect(ofB[0]?.user_agent).toBe(USER_AGENTS.firefoxLinux);
    expect(after.journeyOfB).toEqual(before.journeyOfB);
    expect((after.journeyOfB as { visitor_id: string }).visitor_id).toBe(withdrawn);
    // The visitor who shared a session keeps it, under its own id.
    expect(after.rows.filter((r) => r.visitor_id === sharer).length).toBeGreaterThan(1);
  });

  it("is idempotent: a second call answers 202 with no events and the first call's time", async () => {
    const response = await withdraw(withdrawn);
    expect(response.status).toBe(202);
    const body = (await response.json()) as typeof firstCall.body;
    expect(body.events).toBe(0);
    expect(body.withdrawn_at).toBe(firstCall.body.withdrawn_at);
    expect(await storedEventRows(t)).toEqual(after.rows);
  });

  it("stores a later event of the visitor anonymised, and counts it", async () => {
    const eventId = randomUUID();
    const later = {
      event_id: eventId,
      event_type: "conversion",
      conversion_type: "purchase",
      value_cents: 12_900,
      order_id: "ord_later",
      funnel_id: springSale.id,
      session_id: randomUUID(),
      visitor_id: withdrawn,
      url: ORIGINAL_URL,
      referrer: REFERRER,
      user_agent: USER_AGENTS.chromeWindows,
      ip_address: "198.51.100.77",
      metadata: { email: "jane@example.com" },
      timestamp: "2026-11-20T12:00:00.000Z",
    } as TrackEvent;
    await pipeline.importEvents(a.headers, [later]);
    const row = (await storedEventRows(t)).find((r) => r.event_id === eventId);
    expect(row).toBeDefined();
    expect(row?.visitor_id).not.toBe(withdrawn);
    expect(row?.session_id).not.toBe(later.session_id);
    expect([row?.ip_address, row?.user_agent, row?.referrer]).toEqual([null, null, null]);
    expect(row?.metadata).toEqual({});
    expect(row?.url).toBe("https://shop.example.com/spring/offer");
    expect(Object.keys(await rowsContaining(t, later.session_id))).toEqual([]);

    // Counted: a period no cached report covers, against the reference over the stored rows.
    const period = { date_from: "2026-11-01", date_to: "2026-11-29T23:00:00Z" };
    const events = (await storedRawEvents(t)) as unknown as RawEvent[];
    const parsed = parsePeriod(period);
    const ref = { start: parsed.start, end: parsed.end, timeZone: parsed.timeZone };
    const overview = (await getJson(
      `/api/v1/analytics/funnels/${springSale.id}/overview?${new URLSearchParams(period)}`,
    )) as { conversions: { total: number } };
    const expected = reference.overview(events, refFunnel(springSale), ref);
    expect(overview).toEqual(expected);
    const withoutIt = reference.overview(
      events.filter((e) => e.event_id !== eventId),
      refFunnel(springSale),
      ref,
    );
    expect(overview.conversions.total).toBe(withoutIt.conversions.total + 1);
    const journey = await t.app.request(`/api/v1/analytics/visitors/${withdrawn}/journey`, {
      headers: a.headers,
    });
    expect(journey.status).toBe(404);
  });

  it.each(["not-a-uuid", "42"])("400 naming visitor_id for %s", async (visitor) => {
    const response = await withdraw(visitor);
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain("visitor_id");
  });
});

/** The visitor the last security case seeded, for its cross-account check. */
let seeded: { visitorId: string; owner: AccountWithKey } | undefined;

describeAuthCases(
  "POST /api/v1/analytics/visitors/{visitor_id}/consent-withdrawn",
  () => t,
  async ({ app, owner, headers }) => {
    const { funnelId } = await seedFunnel(app, owner.headers);
    const visitorId = randomUUID();
    await pipeline.importEvents(owner.headers, [
      {
        event_id: randomUUID(),
        event_type: "page_view",
        funnel_id: funnelId,
        page_id: randomUUID(),
        session_id: randomUUID(),
        visitor_id: visitorId,
        url: "https://shop.example.com/?a=1",
        user_agent: USER_AGENTS.chromeWindows,
        timestamp: "2026-11-01T10:00:00.000Z",
      } as TrackEvent,
    ]);
    seeded = { visitorId, owner };
    return app.request(`/api/v1/analytics/visitors/${visitorId}/consent-withdrawn`, {
      method: "POST",
      headers,
    });
  },
  {
    // Never a 404 (a visitor whose events are still queued is recorded too), and it changes
    // nothing of another account's visitor.
    crossAccount: async (response) => {
      expect(response.status).toBe(202);
      expect(((await response.json()) as { events: number }).events).toBe(0);
      const journey = await t.app.request(`/api/v1/analytics/visitors/${seeded?.visitorId}/journey`, {
        headers: seeded?.owner.headers ?? {},
      });
      expect(journey.status).toBe(200);
    },
  },
);
