import { randomUUID } from "node:crypto";
import { createTestPglite } from "@funnel/db/testing";
import type { TrackEvent } from "@funnel/events";
import { type FunnelFixture, generateTraffic, springSale, USER_AGENTS, webinar } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type JourneyRawEvent, journey } from "../../../test/reference/journey";
import { JOURNEY_DEFAULT_LIMIT, JOURNEY_MAX_LIMIT, JOURNEY_PAGE_BYTES } from "../services/analytics/journey";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  describeAuthCases,
  type EventPipeline,
  putFunnelRequest,
  type StoredEventRow,
  seedFunnel,
  startEventPipeline,
  storedEventRows,
  type TestApp,
} from "../testing";

/**
 * GET /api/v1/analytics/visitors/{visitor_id}/journey on TimescaleDB and PGlite: realistic traffic
 * (two funnels, visitors in both, several sessions each, bots, retried events, an open session of the
 * last 30 minutes) goes in through /import, and every visitor's journey is compared field by field
 * with test/reference/journey.ts, computed from the raw stored events. A visitor with thousands of
 * events (a session of 1,500 with 4 KB of metadata each, hundreds of short ones in both funnels,
 * ties in time, session ids that sort differently by UTF-16 and by code point) is answered in pages
 * bounded in events and bytes, and walking them with the cursor gives back the reference. Then the
 * 404s (unknown, another account's, anonymised, only bots, a funnel without sessions), the 400s
 * (bad, altered and foreign cursors, limits) and the security cases.
 *
 * Not here: a timing test that another account's small request is not held up while a big journey
 * pages. On this shared two-core machine it could only be a flaky threshold; the bounds on each
 * answer (events and bytes, and the bounded reads behind them) are what keep it short, and those
 * are tested exactly.
 */

const FUNNELS: FunnelFixture[] = [springSale, webinar];
const MIN = 60_000;
/** Webinar visitors that are Spring Sale visitors too. */
const SHARED_VISITORS = 12;

interface Traffic {
  events: TrackEvent[];
  /** A human visitor of both funnels, with an open session (events in the last 30 minutes). */
  openVisitor: string;
  /** Visitors seen only as bots. */
  botVisitors: string[];
}

function distinctVisitors(events: TrackEvent[]): string[] {
  return [...new Set(events.map((e) => e.visitor_id))];
}

const isBot = (e: TrackEvent) =>
  e.user_agent === USER_AGENTS.googlebot || e.user_agent === USER_AGENTS.bingbot;

function traffic(now: number): Traffic {
  const window = { from: new Date("2026-02-01T00:00:00Z"), to: new Date("2026-04-01T00:00:00Z") };
  const spring = generateTraffic({
    funnel: springSale,
    ...window,
    visitors: 45,
    seed: 7101,
    botShare: 0.1,
    retryShare: 0.05,
  });
  const web = generateTraffic({
    funnel: webinar,
    ...window,
    visitors: 45,
    seed: 7202,
    botShare: 0.1,
    retryShare: 0.05,
  });
  // Humans of both funnels: the first webinar visitors take the ids of Spring Sale's first humans.
  const springHumans = distinctVisitors(spring.filter((e) => !isBot(e)));
  const webHumans = distinctVisitors(web.filter((e) => !isBot(e)));
  const rename = new Map(webHumans.slice(0, SHARED_VISITORS).map((id, i) => [id, springHumans[i] as string]));
  const shared = web.map((e) => ({ ...e, visitor_id: rename.get(e.visitor_id) ?? e.visitor_id }));

  const openVisitor = springHumans[0] as string;
  const session = randomUUID();
  const step = springSale.steps[0];
  const at = (minutesAgo: number) => new Date(now - minutesAgo * MIN).toISOString();
  const base = {
    funnel_id: springSale.id,
    session_id: session,
    visitor_id: openVisitor,
    user_agent: USER_AGENTS.safariIphone,
    ip_address: "198.51.100.23",
  };
  const open: TrackEvent[] = [
    {
      ...base,
      event_id: randomUUID(),
      event_type: "page_view",
      page_id: springSale.pages[0]?.id,
      url: "https://shop.example.com/spring?utm_source=newsletter",
      utm_source: "newsletter",
      timestamp: at(20),
    },
    {
      ...base,
      event_id: randomUUID(),
      event_type: "step_entry",
      funnel_step_id: step?.id,
      timestamp: at(19),
    },
    {
      ...base,
      event_id: randomUUID(),
      event_type: "page_view",
      page_id: springSale.pages[2]?.id,
      url: "https://shop.example.com/spring/offer",
      timestamp: at(12),
    },
    {
      ...base,
      event_id: randomUUID(),
      event_type: "conversion",
      conversion_type: "signup",
      metadata: { plan: "free" },
      timestamp: at(11),
    },
  ] as TrackEvent[];
  // An ended session whose first page view has no URL (a server-side source): no entry page.
  const noUrl = randomUUID();
  const withoutUrl: TrackEvent[] = [
    { event_type: "page_view", page_id: springSale.pages[0]?.id, timestamp: "2026-03-20T08:00:00.000Z" },
    {
      event_type: "page_view",
      page_id: springSale.pages[2]?.id,
      url: "https://shop.example.com/spring/offer",
      timestamp: "2026-03-20T08:03:10.600Z",
    },
  ].map((fields) => ({ ...base, ...fields, session_id: noUrl, event_id: randomUUID() }) as TrackEvent);
  const events = [...spring, ...shared, ...open, ...(open.slice(0, 2) as TrackEvent[]), ...withoutUrl];
  const humans = new Set(distinctVisitors(events.filter((e) => !isBot(e))));
  return { events, openVisitor, botVisitors: distinctVisitors(events).filter((v) => !humans.has(v)) };
}

/** Session ids that start in the same millisecond: their order is by code point (😀 after U+FFFD). */
const TIED_SESSION_IDS = ["Z-tie", "a-tie", "é-tie", "\uFFFD-tie", "😀-tie", "A-tie"];
const BIG_LONG_SESSION = 1_500;
const BIG_SHORT_SESSIONS = 500;

/**
 * A visitor of thousands of events: one session of 1,500 (4 KB of metadata each, one event in ten
 * at the same millisecond as the one before it), short sessions in both funnels that overlap it,
 * six sessions starting in the same millisecond, and bot events of the same visitor.
 */
function bigVisitorTraffic(visitorId: string): TrackEvent[] {
  const events: TrackEvent[] = [];
  const base = { visitor_id: visitorId, user_agent: USER_AGENTS.chromeWindows, ip_address: "198.51.100.77" };
  const start = Date.parse("2026-05-04T08:00:00.000Z");
  const page = springSale.pages[1]?.id;
  const step = springSale.steps[1]?.id;
  let t = start;
  for (let i = 0; i < BIG_LONG_SESSION; i++) {
    if (i % 10 !== 9) t += 37_000;
    events.push({
      ...base,
      event_id: randomUUID(),
      funnel_id: springSale.id,
      session_id: "long-session",
      ...(i % 3 === 0
        ? { event_type: "page_view", page_id: page, url: `https://shop.example.com/spring/${i}` }
        : i % 50 === 1
          ? { event_type: "conversion", conversion_type: "custom" }
          : { event_type: "step_entry", funnel_step_id: step }),
      metadata: { i, note: `${i} `.padEnd(4_000, "x") },
      timestamp: new Date(t).toISOString(),
    } as TrackEvent);
  }
  for (let i = 0; i < BIG_SHORT_SESSIONS; i++) {
    const funnel = i % 2 === 0 ? springSale : webinar;
    const at = start + i * 197_000 + (i % 7) * 13;
    const size = 1 + (i % 4);
    for (let j = 0; j < size; j++) {
      events.push({
        ...base,
        event_id: randomUUID(),
        funnel_id: funnel.id,
        session_id: `short-${i}`,
        event_type: "page_view",
        page_id: funnel.pages[j % funnel.pages.length]?.id,
        url:
          j === 1
            ? undefined
            : `https://shop.example.com/${funnel === springSale ? "spring" : "webinar"}/${i}/${j}`,
        metadata: { i, j },
        timestamp: new Date(at + j * 1_000).toISOString(),
      } as TrackEvent);
    }
  }
  for (const id of TIED_SESSION_IDS) {
    events.push({
      ...base,
      event_id: randomUUID(),
      funnel_id: webinar.id,
      session_id: id,
      event_type: "page_view",
      page_id: webinar.pages[0]?.id,
      url: `https://shop.example.com/webinar/${encodeURIComponent(id)}`,
      timestamp: "2026-05-05T10:00:00.123Z",
    } as TrackEvent);
  }
  for (let i = 0; i < 20; i++) {
    events.push({
      ...base,
      user_agent: USER_AGENTS.googlebot,
      event_id: randomUUID(),
      funnel_id: springSale.id,
      session_id: "bot-session",
      event_type: "page_view",
      page_id: page,
      url: "https://shop.example.com/spring",
      timestamp: new Date(start + i * 60_000).toISOString(),
    } as TrackEvent);
  }
  return events;
}

interface Backend {
  name: string;
  t: TestApp;
  pipeline: EventPipeline;
  a: AccountWithKey;
  b: AccountWithKey;
  sent: Traffic;
  /** A visitor of account A whose consent was withdrawn after the traffic went in. */
  withdrawn: string;
  /** Account B's own funnel, with a session of the open visitor's id. */
  bFunnelId: string;
  /** Account A's visitor of thousands of events; account B has a few events of this id too. */
  bigVisitor: string;
  rows: StoredEventRow[];
}

async function setUp(name: string, embedded: boolean): Promise<Backend> {
  const database = embedded ? await createTestPglite() : undefined;
  const t = await createTestApp(database ? { database } : {});
  const pipeline = startEventPipeline(t);
  const a = await createAccountWithKey(t.deps.database);
  const b = await createAccountWithKey(t.deps.database);
  for (const f of FUNNELS) {
    const response = await putFunnelRequest(t.app, a.headers, f.id, {
      name: f.name,
      steps: f.steps.map((s) => ({ id: s.id, name: s.name, step_type: s.step_type, position: s.position })),
      pages: f.pages,
    });
    if (response.status !== 200) throw new Error(`funnel: ${response.status}`);
  }
  const sent = traffic(Date.now());
  await pipeline.importEvents(a.headers, sent.events);
  const bigVisitor = randomUUID();
  const big = bigVisitorTraffic(bigVisitor);
  for (let i = 0; i < big.length; i += 500) await pipeline.importEvents(a.headers, big.slice(i, i + 500));

  // Account B has a visitor of the same id, in its own funnel.
  const bFunnel = await seedFunnel(t.app, b.headers);
  await pipeline.importEvents(b.headers, [
    {
      event_id: randomUUID(),
      event_type: "page_view",
      funnel_id: bFunnel.funnelId,
      page_id: randomUUID(),
      session_id: randomUUID(),
      visitor_id: sent.openVisitor,
      url: "https://other.example.org/",
      user_agent: USER_AGENTS.firefoxLinux,
      timestamp: "2026-03-15T09:00:00.000Z",
    } as TrackEvent,
    ...[0, 1, 2].map(
      (i) =>
        ({
          event_id: randomUUID(),
          event_type: "page_view",
          funnel_id: bFunnel.funnelId,
          page_id: randomUUID(),
          session_id: `b-${i}`,
          visitor_id: bigVisitor,
          url: `https://other.example.org/${i}`,
          user_agent: USER_AGENTS.firefoxLinux,
          timestamp: `2026-05-04T0${i}:00:00.000Z`,
        }) as TrackEvent,
    ),
  ]);

  const humans = distinctVisitors(sent.events.filter((e) => !isBot(e)));
  const withdrawn = humans[humans.length - 1] as string;
  const response = await t.app.request(`/api/v1/analytics/visitors/${withdrawn}/consent-withdrawn`, {
    method: "POST",
    headers: a.headers,
  });
  if (response.status !== 202) throw new Error(`consent: ${response.status}`);
  return {
    name,
    t,
    pipeline,
    a,
    b,
    sent,
    withdrawn,
    bFunnelId: bFunnel.funnelId,
    bigVisitor,
    rows: await storedEventRows(t),
  };
}

const backends: Backend[] = [];

beforeAll(async () => {
  backends.push(await setUp("TimescaleDB", false));
  backends.push(await setUp("embedded PGlite", true));
}, 300_000);

afterAll(async () => {
  for (const b of backends) {
    await b.pipeline.close();
    await b.t.close();
    if (b.name === "embedded PGlite") await b.t.deps.database.close();
  }
});

interface JourneyBody {
  visitor_id: string;
  sessions: {
    session_id: string;
    funnel_id: string;
    started_at: string;
    ended_at: string | null;
    entry_page: string | null;
    exit_page: string | null;
    events: {
      event_id: string;
      event_type: string;
      conversion_type: string | null;
      value_cents: number | null;
      timestamp: string;
    }[];
  }[];
}

async function getJourney(b: Backend, visitorId: string, query = "", headers = b.a.headers) {
  const response = await b.t.app.request(`/api/v1/analytics/visitors/${visitorId}/journey${query}`, {
    headers,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const asRaw = (rows: StoredEventRow[]): JourneyRawEvent[] => rows;

type Reference = NonNullable<ReturnType<typeof journey>>;
type ReferenceSession = Reference["sessions"][number];

interface Page {
  body: Reference & { next_cursor: string | null };
  bytes: number;
}

/** Every page of a journey, following next_cursor from the first. */
async function walk(
  b: Backend,
  visitorId: string,
  options: { limit?: number; funnelId?: string; headers?: Record<string, string> } = {},
): Promise<Page[]> {
  const pages: Page[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams();
    if (options.funnelId) query.set("funnel_id", options.funnelId);
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    if (cursor !== null) query.set("cursor", cursor);
    const response = await b.t.app.request(`/api/v1/analytics/visitors/${visitorId}/journey?${query}`, {
      headers: options.headers ?? b.a.headers,
    });
    const text = await response.text();
    expect(response.status, text.slice(0, 500)).toBe(200);
    const body = JSON.parse(text) as Page["body"];
    pages.push({ body, bytes: Buffer.byteLength(text) });
    // A page that does not move on would loop for ever.
    expect(body.next_cursor).not.toBe(cursor);
    cursor = body.next_cursor ?? null;
  } while (cursor !== null && pages.length < 2_000);
  return pages;
}

/** The pages put back together: a session cut at a page's end goes on at the start of the next. */
function merge(pages: Page[]): ReferenceSession[] {
  const sessions: ReferenceSession[] = [];
  for (const { body } of pages) {
    for (const s of body.sessions) {
      const previous = sessions[sessions.length - 1];
      if (previous && previous.funnel_id === s.funnel_id && previous.session_id === s.session_id) {
        const { events, ...figures } = s;
        const { events: before, ...previousFigures } = previous;
        // The session's figures are the whole session's on each page it is on.
        expect(figures).toEqual(previousFigures);
        previous.events = [...before, ...events];
      } else {
        sessions.push({ ...s, events: [...s.events] });
      }
    }
  }
  return sessions;
}

const pageEvents = (page: Page) => page.body.sessions.reduce((n, s) => n + s.events.length, 0);

/** The pages' journey equals the reference: every field, every event once, in order. */
function expectPagesToEqual(pages: Page[], expected: Reference) {
  const { sessions, ...totals } = expected;
  for (const { body } of pages) {
    const { sessions: _, next_cursor, ...pageTotals } = body;
    expect(pageTotals).toEqual(totals);
  }
  expect(pages[pages.length - 1]?.body.next_cursor).toBeNull();
  const merged = merge(pages);
  expect(merged.map((s) => s.session_id)).toEqual(sessions.map((s) => s.session_id));
  expect(merged).toEqual(sessions);
}

describe.each(["TimescaleDB", "embedded PGlite"])("visitor journeys on %s", (backendName) => {
  const backend = () => {
    const b = backends.find((x) => x.name === backendName);
    if (!b) throw new Error("no backend");
    return b;
  };
  /** Account A's human visitors still linked to their events. */
  const visitorsOfA = (b: Backend) =>
    distinctVisitors(b.sent.events).filter((v) => v !== b.withdrawn && !b.sent.botVisitors.includes(v));

  it("stored realistic traffic: visitors of both funnels, bots, retried events, an open session", () => {
    const b = backend();
    const sent = b.sent.events;
    expect(new Set(sent.map((e) => e.event_id)).size).toBeLessThan(sent.length);
    expect(b.sent.botVisitors.length).toBeGreaterThan(0);
    const rowsOfA = b.rows.filter((r) => r.account_id === b.a.accountId);
    expect(rowsOfA.some((r) => r.is_bot)).toBe(true);
    const funnelsOf = (v: string) =>
      new Set(rowsOfA.filter((r) => r.visitor_id === v).map((r) => r.funnel_id));
    expect(visitorsOfA(b).filter((v) => funnelsOf(v).size === 2).length).toBeGreaterThanOrEqual(
      SHARED_VISITORS - 2,
    );
  });

  it("equals the reference for every visitor, over all funnels and per funnel", async () => {
    const b = backend();
    let compared = 0;
    for (const visitor of visitorsOfA(b)) {
      for (const funnelId of [undefined, springSale.id, webinar.id]) {
        const { status, body } = await getJourney(b, visitor, funnelId ? `?funnel_id=${funnelId}` : "");
        const expected = journey(asRaw(b.rows), b.a.accountId, visitor, Date.now(), funnelId);
        if (expected === null) {
          expect(status, `${visitor} ${funnelId}`).toBe(404);
          continue;
        }
        expect(status, JSON.stringify(body)).toBe(200);
        // A small journey is one page.
        expect(body).toEqual({ ...expected, next_cursor: null });
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(visitorsOfA(b).length);
  });

  it("lists each sent event of a visitor once, retries included, and no bot event", async () => {
    const b = backend();
    const sent = new Map<string, Set<string>>();
    for (const e of b.sent.events) {
      if (isBot(e) || !e.event_id) continue;
      sent.set(e.visitor_id, (sent.get(e.visitor_id) ?? new Set()).add(e.event_id));
    }
    for (const visitor of visitorsOfA(b).slice(0, 20)) {
      const { body } = await getJourney(b, visitor);
      const listed = (body as unknown as JourneyBody).sessions.flatMap((s) =>
        s.events.map((e) => e.event_id),
      );
      expect(listed.length).toBe(new Set(listed).size);
      expect(new Set(listed)).toEqual(sent.get(visitor));
    }
  });

  it("carries each conversion's type and value as sent, a refund's amount, and null on other events", async () => {
    const b = backend();
    const sent = new Map(b.sent.events.filter((e) => e.event_id).map((e) => [e.event_id, e]));
    const seen = { purchases: 0, valueless: 0, refunds: 0, others: 0 };
    for (const visitor of visitorsOfA(b)) {
      const { body } = await getJourney(b, visitor);
      for (const event of (body as unknown as JourneyBody).sessions.flatMap((s) => s.events)) {
        const e = sent.get(event.event_id);
        if (!e) throw new Error(`${event.event_id} was not sent`);
        const value =
          e.event_type === "conversion" || e.event_type === "refund" ? (e.value_cents ?? null) : null;
        expect(event).toMatchObject({
          event_type: e.event_type,
          conversion_type: e.event_type === "conversion" ? e.conversion_type : null,
          value_cents: value,
        });
        if (e.event_type === "conversion") seen[value === null ? "valueless" : "purchases"]++;
        else if (e.event_type === "refund") seen.refunds++;
        else seen.others++;
      }
    }
    for (const [kind, n] of Object.entries(seen)) expect(n, kind).toBeGreaterThan(0);
  });

  it("orders sessions newest first and their events oldest first, the open session with no end", async () => {
    const b = backend();
    const { status, body } = await getJourney(b, b.sent.openVisitor);
    expect(status).toBe(200);
    const { sessions } = body as unknown as JourneyBody;
    expect(sessions.length).toBeGreaterThan(1);
    const starts = sessions.map((s) => Date.parse(s.started_at));
    expect([...starts].sort((x, y) => y - x)).toEqual(starts);
    for (const s of sessions) {
      const times = s.events.map((e) => Date.parse(e.timestamp));
      expect([...times].sort((x, y) => x - y)).toEqual(times);
    }
    const [open, ...ended] = sessions;
    expect(open?.funnel_id).toBe(springSale.id);
    expect(open?.ended_at).toBeNull();
    expect(open?.exit_page).toBeNull();
    for (const s of ended) expect(s.ended_at).not.toBeNull();
    const noEntry = sessions.find((s) => s.started_at === "2026-03-20T08:00:00.000Z");
    expect(noEntry).toMatchObject({ entry_page: null, exit_page: "https://shop.example.com/spring/offer" });
    // Another account's session of the same visitor id is not part of it.
    expect(sessions.some((s) => s.funnel_id === b.bFunnelId)).toBe(false);
  });

  it("reads the visitor id in any case", async () => {
    const b = backend();
    const lower = await getJourney(b, b.sent.openVisitor);
    const upper = await getJourney(b, b.sent.openVisitor.toUpperCase());
    expect(upper).toEqual(lower);
  });

  it("404 for an unknown visitor, a visitor seen only as a bot, and a funnel without its sessions", async () => {
    const b = backend();
    const onlySpring = visitorsOfA(b).find(
      (v) => journey(asRaw(b.rows), b.a.accountId, v, Date.now(), webinar.id) === null,
    );
    expect(onlySpring).toBeDefined();
    for (const [visitor, query] of [
      [randomUUID(), ""],
      [b.sent.botVisitors[0] as string, ""],
      [onlySpring as string, `?funnel_id=${webinar.id}`],
      [b.sent.openVisitor, `?funnel_id=${randomUUID()}`],
      [b.sent.openVisitor, `?funnel_id=${b.bFunnelId}`],
    ] as const) {
      const { status, body } = await getJourney(b, visitor, query);
      expect(status, `${visitor}${query}`).toBe(404);
      expect((body as { error?: { code?: string } }).error?.code).toBe("NOT_FOUND");
    }
  });

  it("404 for a visitor whose consent was withdrawn, whose events still count", async () => {
    const b = backend();
    expect((await getJourney(b, b.withdrawn)).status).toBe(404);
    const sentIds = new Set(b.sent.events.filter((e) => e.visitor_id === b.withdrawn).map((e) => e.event_id));
    const stored = b.rows.filter((r) => sentIds.has(r.event_id));
    expect(stored.length).toBe(sentIds.size);
    expect(stored.every((r) => r.visitor_id !== b.withdrawn)).toBe(true);
  });

  it("shows account B only its own session of a visitor id account A has too, and A's visitors to no one else", async () => {
    const b = backend();
    const ofB = await getJourney(b, b.sent.openVisitor, "", b.b.headers);
    expect(ofB.status).toBe(200);
    expect(ofB.body).toEqual({
      ...journey(asRaw(b.rows), b.b.accountId, b.sent.openVisitor, Date.now()),
      next_cursor: null,
    });
    expect((ofB.body as unknown as JourneyBody).sessions.map((s) => s.funnel_id)).toEqual([b.bFunnelId]);
    const onlyA = visitorsOfA(b).find((v) => v !== b.sent.openVisitor) as string;
    expect((await getJourney(b, onlyA, "", b.b.headers)).status).toBe(404);
  });

  it.each([
    ["visitor_id", "not-a-uuid", ""],
    ["visitor_id", "12345", ""],
    ["funnel_id", randomUUID(), "?funnel_id=spring"],
  ])("400 naming %s (%s%s)", async (field, visitor, query) => {
    const { status, body } = await getJourney(backend(), visitor, query);
    expect(status).toBe(400);
    expect(JSON.stringify(body)).toContain(field);
  });

  describe("a visitor with thousands of events", () => {
    const expectedBig = (b: Backend, funnelId?: string) => {
      const expected = journey(asRaw(b.rows), b.a.accountId, b.bigVisitor, Date.now(), funnelId);
      if (!expected) throw new Error("no big journey");
      return expected;
    };

    it("stored thousands of counted events, a session larger than any page, and bot events", () => {
      const b = backend();
      const expected = expectedBig(b);
      expect(expected.total_events).toBeGreaterThan(2_500);
      expect(expected.sessions.find((s) => s.session_id === "long-session")?.events.length).toBe(
        BIG_LONG_SESSION,
      );
      expect(b.rows.some((r) => r.visitor_id === b.bigVisitor && r.is_bot)).toBe(true);
      // The tied sessions sort by code point, which UTF-16 order does not give.
      const tied = expected.sessions.filter((s) => s.session_id.endsWith("-tie")).map((s) => s.session_id);
      expect(tied).toEqual(["A-tie", "Z-tie", "a-tie", "é-tie", "\uFFFD-tie", "😀-tie"]);
      expect([...tied].sort()).not.toEqual(tied);
    });

    it("is answered in pages bounded in events and in bytes", async () => {
      const b = backend();
      const expected = expectedBig(b);
      const first = await getJourney(b, b.bigVisitor);
      expect(first.status).toBe(200);
      const body = first.body as unknown as Page["body"];
      expect(body.sessions.reduce((n, s) => n + s.events.length, 0)).toBe(JOURNEY_DEFAULT_LIMIT);
      expect(typeof body.next_cursor).toBe("string");
      const { sessions: _, ...totals } = expected;
      expect({ ...body, sessions: undefined, next_cursor: undefined }).toEqual({
        ...totals,
        sessions: undefined,
        next_cursor: undefined,
      });
      for (const limit of [JOURNEY_DEFAULT_LIMIT, JOURNEY_MAX_LIMIT]) {
        const pages = await walk(b, b.bigVisitor, { limit });
        expect(pages.length).toBeGreaterThanOrEqual(Math.ceil(expected.total_events / limit));
        for (const page of pages) {
          expect(pageEvents(page)).toBeGreaterThan(0);
          expect(pageEvents(page)).toBeLessThanOrEqual(limit);
          // The whole answer: the page's sessions and events, and a few hundred bytes of totals.
          expect(page.bytes).toBeLessThanOrEqual(JOURNEY_PAGE_BYTES + 1_024);
        }
        // 500 events of 4 KB do not fit in a page's bytes: the bytes cut those pages short.
        if (limit === JOURNEY_MAX_LIMIT) expect(Math.min(...pages.map(pageEvents))).toBeLessThan(limit);
      }
    });

    it.each([
      ["the default limit", undefined, undefined],
      ["97 events a page", 97, undefined],
      ["the largest limit", JOURNEY_MAX_LIMIT, undefined],
      ["one funnel, 64 events a page", 64, webinar.id],
    ])(
      "walked with the cursor (%s) gives every event once, in order, as the reference",
      async (_, limit, funnelId) => {
        const b = backend();
        const pages = await walk(b, b.bigVisitor, { limit, funnelId });
        expectPagesToEqual(pages, expectedBig(b, funnelId));
        const ids = pages.flatMap((p) => p.body.sessions.flatMap((s) => s.events.map((e) => e.event_id)));
        expect(new Set(ids).size).toBe(ids.length);
      },
    );

    it("walks small journeys one event a page as well", async () => {
      const b = backend();
      for (const visitor of [b.sent.openVisitor, ...visitorsOfA(b).slice(1, 4)]) {
        const pages = await walk(b, visitor, { limit: 1 });
        expect(pages.every((p) => pageEvents(p) === 1)).toBe(true);
        const expected = journey(asRaw(b.rows), b.a.accountId, visitor, Date.now());
        if (!expected) throw new Error("no journey");
        expectPagesToEqual(pages, expected);
      }
    });

    it("400 naming cursor for a cursor that is malformed, altered, or issued for another visitor or funnel_id", async () => {
      const b = backend();
      const first = (await getJourney(b, b.bigVisitor, "?limit=5")).body as unknown as Page["body"];
      const cursor = first.next_cursor as string;
      const decoded = JSON.parse(Buffer.from(cursor, "base64url").toString()) as Record<string, unknown>;
      const recoded = (fields: Record<string, unknown>) =>
        Buffer.from(JSON.stringify({ ...decoded, ...fields })).toString("base64url");
      const otherVisitor = visitorsOfA(b)[0] as string;
      const cases: [string, string, string][] = [
        ["not base64url", b.bigVisitor, "?cursor=not%20a%20cursor!"],
        ["not JSON", b.bigVisitor, `?cursor=${Buffer.from("hello").toString("base64url")}`],
        ["no position", b.bigVisitor, `?cursor=${Buffer.from('{"v":1}').toString("base64url")}`],
        ["cut short", b.bigVisitor, `?cursor=${cursor.slice(0, -6)}`],
        ["another event", b.bigVisitor, `?cursor=${recoded({ e: randomUUID() })}`],
        ["another session", b.bigVisitor, `?cursor=${recoded({ i: "short-3" })}`],
        ["an earlier time", b.bigVisitor, `?cursor=${recoded({ t: "2026-01-01T00:00:00.000000Z" })}`],
        ["another visitor's", otherVisitor, `?cursor=${cursor}`],
        [
          "with a funnel_id it was not issued for",
          b.bigVisitor,
          `?funnel_id=${springSale.id}&cursor=${cursor}`,
        ],
        ["too long", b.bigVisitor, `?cursor=${"a".repeat(2_000)}`],
      ];
      for (const [what, visitor, query] of cases) {
        const { status, body } = await getJourney(b, visitor, query);
        expect(status, what).toBe(400);
        expect((body as { error?: { details?: { field: string }[] } }).error?.details?.[0]?.field, what).toBe(
          "cursor",
        );
      }
      // The cursor as issued still works.
      expect((await getJourney(b, b.bigVisitor, `?limit=5&cursor=${cursor}`)).status).toBe(200);
    });

    it.each([["0"], ["501"], ["-1"], ["1.5"], ["many"]])("400 naming limit (%s)", async (limit) => {
      const { status, body } = await getJourney(backend(), backend().bigVisitor, `?limit=${limit}`);
      expect(status).toBe(400);
      expect(JSON.stringify(body)).toContain("limit");
    });

    it("gives account B nothing of account A's: A's cursor is a 400, and B's own pages hold only B's events", async () => {
      const b = backend();
      const ofA = (await getJourney(b, b.bigVisitor, "?limit=3")).body as unknown as Page["body"];
      const withCursorOfA = await getJourney(
        b,
        b.bigVisitor,
        `?limit=3&cursor=${ofA.next_cursor}`,
        b.b.headers,
      );
      expect(withCursorOfA.status).toBe(400);
      expect(JSON.stringify(withCursorOfA.body)).toContain("cursor");
      const pages = await walk(b, b.bigVisitor, { limit: 1, headers: b.b.headers });
      const expected = journey(asRaw(b.rows), b.b.accountId, b.bigVisitor, Date.now());
      if (!expected) throw new Error("no journey of B");
      expect(expected.total_events).toBe(3);
      expectPagesToEqual(pages, expected);
      const idsOfA = new Set(b.rows.filter((r) => r.account_id === b.a.accountId).map((r) => r.event_id));
      const shown = pages.flatMap((p) => p.body.sessions.flatMap((s) => s.events.map((e) => e.event_id)));
      expect(shown.some((id) => idsOfA.has(id))).toBe(false);
      // And B's cursor is no key to A's journey either.
      const ofB = (await getJourney(b, b.bigVisitor, "?limit=1", b.b.headers))
        .body as unknown as Page["body"];
      expect((await getJourney(b, b.bigVisitor, `?limit=1&cursor=${ofB.next_cursor}`)).status).toBe(400);
    });
  });
});

describeAuthCases(
  "GET /api/v1/analytics/visitors/{visitor_id}/journey",
  () => {
    const b = backends[0];
    if (!b) throw new Error("no backend");
    return b.t;
  },
  async ({ app, owner, headers }) => {
    const b = backends[0] as Backend;
    const { funnelId } = await seedFunnel(app, owner.headers);
    const visitorId = randomUUID();
    await b.pipeline.importEvents(owner.headers, [
      {
        event_id: randomUUID(),
        event_type: "page_view",
        funnel_id: funnelId,
        page_id: randomUUID(),
        session_id: randomUUID(),
        visitor_id: visitorId,
        url: "https://shop.example.com/",
        user_agent: USER_AGENTS.chromeWindows,
        timestamp: "2026-03-01T10:00:00.000Z",
      } as TrackEvent,
    ]);
    return app.request(`/api/v1/analytics/visitors/${visitorId}/journey`, { headers });
  },
);
