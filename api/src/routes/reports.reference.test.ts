import { createTestPglite } from "@funnel/db/testing";
import type { TrackEvent } from "@funnel/events";
import { type FunnelFixture, generateTraffic, springSale, webinar } from "@funnel/fixtures";
import { type Granularity, parsePeriod } from "@funnel/metrics";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RawEvent, RefFunnel } from "../../../test/reference/reports";
import * as reference from "../../../test/reference/reports";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  type EventPipeline,
  figuresOf,
  putFunnelRequest,
  startEventPipeline,
  storedRawEvents,
  type TestApp,
} from "../testing";

/**
 * The reference suite: realistic traffic for two funnels (returning visitors across the period's
 * edges, retried events, bots, refunds, products, back-navigation, entries never exited) goes in
 * through /import; every field of every report route is then compared with test/reference/, which
 * computes the same reports from the raw stored events in plain code. On TimescaleDB and on the
 * embedded PGlite, for UTC and for time zones with summer time and with a 45-minute offset, and for
 * periods that do not start or end on a quarter hour (read partly from raw events).
 */

const FUNNELS: FunnelFixture[] = [springSale, webinar];

interface Case {
  name: string;
  query: { date_from: string; date_to: string; tz?: string };
  granularity: Granularity;
}

const CASES: Case[] = [
  { name: "UTC, whole days", query: { date_from: "2026-03-01", date_to: "2026-03-31" }, granularity: "day" },
  {
    name: "UTC by week, from the middle of a week",
    query: { date_from: "2026-03-04", date_to: "2026-03-25" },
    granularity: "week",
  },
  {
    name: "New York across the spring DST change, by week",
    query: { date_from: "2026-03-02", date_to: "2026-03-29", tz: "America/New_York" },
    granularity: "week",
  },
  {
    name: "Kathmandu (+05:45), by hour, times off the quarter hour",
    query: { date_from: "2026-03-07T10:07:00", date_to: "2026-03-09T17:52:30", tz: "Asia/Kathmandu" },
    granularity: "hour",
  },
  {
    name: "a period shorter than a quarter hour",
    query: { date_from: "2026-03-10T12:01:00Z", date_to: "2026-03-10T12:13:00Z" },
    granularity: "hour",
  },
];

function traffic(): TrackEvent[] {
  return FUNNELS.flatMap((funnel, i) =>
    generateTraffic({
      funnel,
      from: new Date("2026-02-10T00:00:00Z"),
      to: new Date("2026-04-10T00:00:00Z"),
      visitors: 700,
      seed: 4100 + i,
      serverSent: true,
    }),
  );
}

function refFunnel(f: FunnelFixture): RefFunnel {
  return {
    id: f.id,
    name: f.name,
    steps: f.steps.map((s) => ({ id: s.id, name: s.name, step_type: s.step_type, position: s.position })),
  };
}

interface Backend {
  name: string;
  t: TestApp;
  pipeline: EventPipeline;
  account: AccountWithKey;
  events: RawEvent[];
}

async function setUp(name: string, embedded: boolean): Promise<Backend> {
  const database = embedded ? await createTestPglite() : undefined;
  const t = await createTestApp({ ...(database ? { database } : {}), config: { REPORT_CACHE_SECONDS: 0 } });
  const pipeline = startEventPipeline(t);
  const account = await createAccountWithKey(t.deps.database);
  for (const f of FUNNELS) {
    const response = await putFunnelRequest(t.app, account.headers, f.id, {
      name: f.name,
      steps: f.steps.map((s) => ({ id: s.id, name: s.name, step_type: s.step_type, position: s.position })),
      pages: f.pages,
    });
    if (response.status !== 200) throw new Error(`funnel: ${response.status}`);
  }
  await pipeline.importEvents(account.headers, traffic());
  return { name, t, pipeline, account, events: (await storedRawEvents(t)) as unknown as RawEvent[] };
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

async function get(b: Backend, path: string, query: Record<string, string | undefined>) {
  const qs = new URLSearchParams(
    Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined),
  ).toString();
  const response = await b.t.app.request(`${path}?${qs}`, { headers: b.account.headers });
  const body = await response.json();
  expect(response.status, JSON.stringify(body)).toBe(200);
  return figuresOf(body as Record<string, unknown>);
}

describe.each(["TimescaleDB", "embedded PGlite"])("reports on %s equal the reference", (backendName) => {
  const backend = () => {
    const b = backends.find((x) => x.name === backendName);
    if (!b) throw new Error("no backend");
    return b;
  };

  it("stored realistic traffic: bots, retries, refunds, products, back-navigation, open entries", () => {
    const { events } = backend();
    expect(events.length).toBeGreaterThan(5_000);
    expect(events.some((e) => e.is_bot)).toBe(true);
    // Sessions whose user agent comes on a later event, and sessions none of whose events had one.
    const agents = new Map<string, boolean[]>();
    for (const e of [...events].sort((a, b) => a.created_at.localeCompare(b.created_at))) {
      agents.set(e.session_id, [...(agents.get(e.session_id) ?? []), e.device_type !== null]);
    }
    const shapes = [...agents.values()];
    expect(shapes.filter((s) => !s[0] && s.some(Boolean)).length).toBeGreaterThan(10);
    expect(shapes.filter((s) => s.length > 2 && !s.some(Boolean)).length).toBeGreaterThan(10);
    expect(events.some((e) => e.event_type === "conversion" && e.device_type === null)).toBe(true);
    expect(events.some((e) => e.event_type === "refund")).toBe(true);
    expect(events.some((e) => e.exit_outcome === "backward")).toBe(true);
    expect(events.some((e) => Array.isArray(e.metadata.products))).toBe(true);
  });

  describe.each(CASES)("$name", ({ query, granularity }) => {
    const period = parsePeriod(query);
    const ref = { start: period.start, end: period.end, timeZone: period.timeZone };

    it.each(FUNNELS.map((f) => [f.name, f] as const))("overview of %s", async (_, f) => {
      const b = backend();
      const body = await get(b, `/api/v1/analytics/funnels/${f.id}/overview`, query);
      expect(body).toEqual(reference.overview(b.events, refFunnel(f), ref));
    });

    it.each(FUNNELS.flatMap((f) => f.steps.map((s) => [`${f.name} / ${s.name}`, f, s.id] as const)))(
      "step %s",
      async (_, f, stepId) => {
        const b = backend();
        const body = await get(b, `/api/v1/analytics/funnels/${f.id}/steps/${stepId}`, {
          ...query,
          granularity,
        });
        expect(body).toEqual(reference.stepReport(b.events, refFunnel(f), stepId, ref, granularity));
      },
    );

    it.each(FUNNELS.map((f) => [f.name, f] as const))("conversions of %s, pages 1 and 2", async (_, f) => {
      const b = backend();
      for (const page of [1, 2]) {
        const body = await get(b, `/api/v1/analytics/funnels/${f.id}/conversions`, {
          ...query,
          granularity,
          page: String(page),
          page_size: "7",
        });
        expect(body).toEqual(reference.conversions(b.events, refFunnel(f), ref, granularity, page, 7));
      }
    });

    it.each(FUNNELS.map((f) => [f.name, f] as const))("drop-offs of %s", async (_, f) => {
      const b = backend();
      const body = (await get(b, `/api/v1/analytics/funnels/${f.id}/dropoffs`, query)) as {
        steps_with_drop_off: { suggestions: unknown }[];
      };
      for (const step of body.steps_with_drop_off) {
        expect(Array.isArray(step.suggestions)).toBe(true);
        delete (step as { suggestions?: unknown }).suggestions;
      }
      expect(body).toEqual(reference.dropoffs(b.events, refFunnel(f), ref));
    });

    it.each(FUNNELS.map((f) => [f.name, f] as const))("revenue of %s", async (_, f) => {
      const b = backend();
      const body = await get(b, `/api/v1/analytics/funnels/${f.id}/revenue`, { ...query, granularity });
      expect(body).toEqual(reference.revenue(b.events, refFunnel(f), ref, granularity));
    });
  });
});
