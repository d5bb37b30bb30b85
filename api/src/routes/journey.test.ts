import { randomUUID } from "node:crypto";
import { createTestPglite } from "@funnel/db/testing";
import type { TrackEvent } from "@funnel/events";
import { type FunnelFixture, generateTraffic, springSale, USER_AGENTS, webinar } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type JourneyRawEvent, journey } from "../../../test/reference/journey";
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
 * with test/reference/journey.ts, computed from the raw stored events. Then the 404s (unknown,
 * another account's, anonymised, only bots, a funnel without sessions), the 400s and the security
 * cases.
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
    events: { event_id: string; timestamp: string }[];
  }[];
}

async function getJourney(b: Backend, visitorId: string, query = "", headers = b.a.headers) {
  const response = await b.t.app.request(`/api/v1/analytics/visitors/${visitorId}/journey${query}`, {
    headers,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const asRaw = (rows: StoredEventRow[]): JourneyRawEvent[] => rows;

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
        expect(body).toEqual(expected);
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
    expect(ofB.body).toEqual(journey(asRaw(b.rows), b.b.accountId, b.sent.openVisitor, Date.now()));
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
