import { randomUUID } from "node:crypto";
import type { TrackEvent } from "@funnel/events";
import { generateTraffic, Random, springSale, USER_AGENTS } from "@funnel/fixtures";
import { averageCents, parsePeriod, rate, roundTo, twoProportionZTest } from "@funnel/metrics";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AbTestResultsView } from "../services/analytics/ab-test-results";
import {
  type AccountWithKey,
  abTestBody,
  createAccountWithKey,
  createTestApp,
  describeAuthCases,
  type EventPipeline,
  putAbTestRequest,
  putFunnelRequest,
  seedFunnel,
  startEventPipeline,
  type TestApp,
} from "../testing";

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

const DAY = 86_400_000;
const HUMAN = USER_AGENTS.chromeWindows;
const BOTS = new Set<string>([USER_AGENTS.googlebot, USER_AGENTS.bingbot]);

async function results(funnelId: string, query: Record<string, string>, headers = a.headers) {
  const qs = new URLSearchParams(query).toString();
  return t.app.request(`/api/v1/analytics/funnels/${funnelId}/ab-tests?${qs}`, { headers });
}

async function resultsOk(funnelId: string, query: Record<string, string>): Promise<AbTestResultsView> {
  const response = await results(funnelId, query);
  expect(response.status).toBe(200);
  return (await response.json()) as AbTestResultsView;
}

// ---------------------------------------------------------------------------------------------
// The independent computation: METRICS.md's A/B definitions applied to the raw events in plain code.

interface TestSpec {
  variants: { id: string; page_id: string }[];
}

interface Expected {
  visitors: number;
  conversions: number;
  revenue: number;
}

function expectedFromRaw(
  events: TrackEvent[],
  funnelId: string,
  test: TestSpec,
  window: { start: Date; end: Date },
): Map<string, Expected> {
  const seen = new Set<string>();
  const human = events.filter((e) => {
    const id = e.event_id ?? "";
    if (seen.has(id)) return false; // a retried event_id is stored once
    seen.add(id);
    return e.funnel_id === funnelId && !BOTS.has(e.user_agent ?? "");
  });
  const time = (e: TrackEvent) => Date.parse(e.timestamp ?? "");
  const inWindow = (e: TrackEvent) => time(e) >= window.start.getTime() && time(e) < window.end.getTime();
  const variantOf = (e: TrackEvent): string | undefined =>
    test.variants.find((v) => v.id === e.variant_id)?.id ??
    test.variants.find((v) => v.page_id === e.page_id)?.id;

  const exposure = new Map<string, { variant: string; at: number }>();
  const ordered = human
    .filter((e) => inWindow(e) && variantOf(e) !== undefined)
    .sort((x, y) => time(x) - time(y) || ((x.event_id ?? "") < (y.event_id ?? "") ? -1 : 1));
  for (const e of ordered) {
    if (!exposure.has(e.visitor_id)) exposure.set(e.visitor_id, { variant: variantOf(e) ?? "", at: time(e) });
  }
  const conversionsOf = new Map<string, TrackEvent[]>();
  for (const e of human) {
    if (e.event_type !== "conversion") continue;
    conversionsOf.set(e.visitor_id, [...(conversionsOf.get(e.visitor_id) ?? []), e]);
  }
  const figures = new Map<string, Expected>(
    test.variants.map((v) => [v.id, { visitors: 0, conversions: 0, revenue: 0 }]),
  );
  for (const [visitor, { variant, at }] of exposure) {
    const f = figures.get(variant) as Expected;
    f.visitors++;
    const conversions = (conversionsOf.get(visitor) ?? []).filter((e) => time(e) >= at && inWindow(e));
    if (conversions.length > 0) f.conversions++;
    for (const c of conversions) f.revenue += c.event_type === "conversion" ? (c.value_cents ?? 0) : 0;
  }
  return figures;
}

/** Checks every figure of `result`'s variants against the raw computation. */
function expectFigures(view: AbTestResultsView["tests"][number], expected: Map<string, Expected>) {
  const control = view.variants.find((v) => v.is_control);
  const c = expected.get(control?.variant_id ?? "") as Expected;
  for (const v of view.variants) {
    const e = expected.get(v.variant_id) as Expected;
    expect({
      id: v.variant_id,
      visitors: v.visitors,
      conversions: v.conversions,
      revenue: v.revenue_cents,
    }).toEqual({
      id: v.variant_id,
      visitors: e.visitors,
      conversions: e.conversions,
      revenue: e.revenue,
    });
    expect(v.conversion_rate).toBe(rate(e.conversions, e.visitors));
    expect(v.avg_revenue_per_visitor_cents).toBe(averageCents(e.revenue, e.visitors));
    if (v.is_control) {
      expect(v.improvement_vs_control).toBeNull();
      expect(v.confidence).toBeNull();
      continue;
    }
    const controlRate = c.visitors === 0 ? 0 : c.conversions / c.visitors;
    const ownRate = e.visitors === 0 ? 0 : e.conversions / e.visitors;
    expect(v.improvement_vs_control).toBe(
      controlRate === 0 ? null : roundTo((ownRate - controlRate) / controlRate, 4),
    );
    const z = twoProportionZTest(
      { successes: c.conversions, trials: c.visitors },
      { successes: e.conversions, trials: e.visitors },
    );
    expect(v.confidence).toBe(roundTo(1 - z.pValue, 4));
  }
}

// ---------------------------------------------------------------------------------------------
// A funnel and test built by hand, so each rule of METRICS.md has a visitor that exercises it.

const T0 = Date.parse("2026-01-05T00:00:00.000Z"); // test start
const at = (hours: number) => new Date(T0 + hours * 3_600_000).toISOString();

function ev(funnelId: string, visitor: string, fields: Partial<TrackEvent> & Pick<TrackEvent, "event_type">) {
  return {
    event_id: randomUUID(),
    funnel_id: funnelId,
    session_id: `s-${visitor}`,
    visitor_id: visitor,
    user_agent: HUMAN,
    ...fields,
  } as TrackEvent;
}

describe("GET /api/v1/analytics/funnels/{id}/ab-tests", () => {
  it("computes exposure, conversions and revenue exactly as METRICS.md defines them", async () => {
    const funnel = await seedFunnel(t.app, a.headers, {
      pages: [
        { id: randomUUID(), name: "A", url: "https://x.example/a" },
        { id: randomUUID(), name: "B", url: "https://x.example/b" },
        { id: randomUUID(), name: "Other", url: "https://x.example/c" },
      ],
    });
    const other = await seedFunnel(t.app, a.headers);
    const [pageA, pageB, pageC] = (funnel.body.pages ?? []).map((p) => p.id) as [string, string, string];
    const testId = randomUUID();
    const body = abTestBody(funnel.funnelId, funnel.body, { started_at: new Date(T0).toISOString() });
    const [control, challenger] = body.variants as [(typeof body.variants)[0], (typeof body.variants)[0]];
    expect((await putAbTestRequest(t.app, a.headers, testId, body)).status).toBe(200);
    const f = funnel.funnelId;
    const v = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`v${i + 1}`, randomUUID()]));
    const pv = (visitor: string, page: string, hours: number, extra: Partial<TrackEvent> = {}) =>
      ev(f, visitor, {
        event_type: "page_view",
        page_id: page,
        timestamp: at(hours),
        ...extra,
      } as TrackEvent);
    const conv = (visitor: string, hours: number, value?: number, funnelId = f) =>
      ev(funnelId, visitor, {
        event_type: "conversion",
        conversion_type: value ? "purchase" : "signup",
        ...(value ? { value_cents: value } : {}),
        timestamp: at(hours),
      } as TrackEvent);
    const v1 = v.v1 as string;
    const v2 = v.v2 as string;
    const v3 = v.v3 as string;
    const v4 = v.v4 as string;
    const v5 = v.v5 as string;
    const v6 = v.v6 as string;
    const v7 = v.v7 as string;
    const v8 = v.v8 as string;
    const v9 = v.v9 as string;
    const v10 = v.v10 as string;
    const v11 = v.v11 as string;
    const events: TrackEvent[] = [
      pv(v1, pageA, 1),
      conv(v1, 2, 1_000), // control, converts
      pv(v2, pageB, 1),
      conv(v2, 2, 500),
      conv(v2, 3, 700), // challenger, two orders
      pv(v3, pageA, 1),
      pv(v3, pageB, 2),
      conv(v3, 3, 400), // first seen A → control
      pv(v4, pageB, 1, { variant_id: control.id }), // variant_id wins over the page
      conv(v5, 1, 300),
      pv(v5, pageB, 2), // converted before exposure only
      { ...pv(v6, pageA, 1), user_agent: USER_AGENTS.googlebot }, // bot
      { ...conv(v6, 2, 9_999), user_agent: USER_AGENTS.googlebot },
      pv(v7, pageA, -1),
      pv(v7, pageB, 1),
      conv(v7, 2, 250), // before the test started: B
      pv(v8, pageC, 1),
      conv(v8, 2, 100), // never saw a variant page
      pv(v9, pageA, 1),
      conv(v9, 24 * 40, 800), // converts after the period
      pv(v10, pageB, 1),
      conv(v10, 2, 600, other.funnelId), // converts in another funnel
      pv(v11, pageA, 1),
      conv(v11, 1, undefined), // converts in the same instant, no value
    ];
    await pipeline.importEvents(a.headers, events);

    const query = { date_from: "2026-01-01", date_to: "2026-01-31" };
    const view = await resultsOk(f, query);
    expect(view.period).toEqual({
      start: "2026-01-01T00:00:00.000Z",
      end: "2026-02-01T00:00:00.000Z",
      time_zone: "UTC",
    });
    expect(view.tests).toHaveLength(1);
    const [result] = view.tests;
    if (!result) throw new Error("no result");
    expect(result).toMatchObject({
      test_id: testId,
      test_name: body.test_name,
      status: "running",
      started_at: new Date(T0).toISOString(),
      completed_at: null,
      window: { start: new Date(T0).toISOString(), end: "2026-02-01T00:00:00.000Z" },
    });
    // By hand: control = v1, v3, v4, v9, v11 (converted v1, v3, v11; 1,000 + 400);
    // challenger = v2, v5, v7, v10 (converted v2, v7; 500 + 700 + 250).
    const [c, b] = result.variants;
    expect([c?.variant_id, c?.visitors, c?.conversions, c?.revenue_cents]).toEqual([control.id, 5, 3, 1_400]);
    expect([b?.variant_id, b?.visitors, b?.conversions, b?.revenue_cents]).toEqual([
      challenger.id,
      4,
      2,
      1_450,
    ]);
    expect(c?.avg_revenue_per_visitor_cents).toBe(280);
    expect(b?.avg_revenue_per_visitor_cents).toBe(363); // 362.5 rounds half away from zero
    expect(b?.improvement_vs_control).toBe(-0.1667); // (0.5 − 0.6) / 0.6
    const window = { start: new Date(T0), end: new Date("2026-02-01T00:00:00.000Z") };
    expectFigures(result, expectedFromRaw(events, f, body, window));
    expect(result.winner).toBeNull();
    expect(result.conclusion).toMatch(
      /^No winner yet: Bold headline converts at 50\.00 % against 60\.00 % for Control/,
    );
    expect(result.sample_ratio_mismatch).toMatchObject({
      detected: false,
      degrees_of_freedom: 1,
      threshold: 0.001,
    });

    // A completed test counts events only until its completion; v2's second order is after it.
    const completed = { ...body, status: "completed" as const, completed_at: at(2.5) };
    expect((await putAbTestRequest(t.app, a.headers, testId, completed)).status).toBe(200);
    const cut = (await resultsOk(f, query)).tests[0];
    expect(cut?.status).toBe("completed");
    expect(cut?.window?.end).toBe(at(2.5));
    if (!cut) throw new Error("no result");
    expectFigures(cut, expectedFromRaw(events, f, body, { start: new Date(T0), end: new Date(at(2.5)) }));
    expect(cut.variants[1]?.revenue_cents).toBe(500 + 250);
  });

  it("matches the raw computation on a month of generated traffic, for any period and time zone", async () => {
    const now = Date.now();
    const from = new Date(now - 30 * DAY);
    const funnel = springSale;
    const abTest = funnel.abTest;
    if (!abTest) throw new Error("springSale has an A/B test");
    const put = await putFunnelRequest(t.app, a.headers, funnel.id, {
      name: funnel.name,
      steps: funnel.steps.map(({ id, name, step_type, position }) => ({ id, name, step_type, position })),
      pages: funnel.pages,
    });
    expect(put.status).toBe(200);
    const startedAt = new Date(from.getTime() + 3 * DAY);
    const body = { ...abTest, funnel_id: funnel.id, started_at: startedAt.toISOString() };
    expect((await putAbTestRequest(t.app, a.headers, abTest.id, body)).status).toBe(200);
    const events = generateTraffic({ funnel, from, to: new Date(now - 60_000), visitors: 1_000, seed: 4 });
    await pipeline.importEvents(a.headers, events);

    const queries: Record<string, string>[] = [
      { date_from: from.toISOString().slice(0, 10), date_to: new Date(now).toISOString().slice(0, 10) },
      {
        date_from: new Date(now - 20 * DAY).toISOString().slice(0, 10),
        date_to: new Date(now - 6 * DAY).toISOString().slice(0, 10),
        tz: "America/New_York",
      },
      { date_from: new Date(now - 10 * DAY).toISOString(), date_to: new Date(now - 2 * DAY).toISOString() },
    ];
    for (const query of queries) {
      const view = await resultsOk(funnel.id, query);
      const period = parsePeriod(query);
      const result = view.tests[0];
      if (!result) throw new Error("no result");
      const window = { start: period.start > startedAt ? period.start : startedAt, end: period.end };
      const expected = expectedFromRaw(events, funnel.id, body, window);
      expect([...expected.values()].reduce((n, e) => n + e.visitors, 0)).toBeGreaterThan(100);
      expectFigures(result, expected);
    }
  });

  it("finds a real lift and declares the challenger the winner, quoting the figures", async () => {
    const { funnelId, testId, body } = await seedTest();
    const [control, challenger] = body.variants;
    if (!control || !challenger) throw new Error("two variants");
    const events = bernoulliTraffic(funnelId, [control.page_id, challenger.page_id], [0.08, 0.16], 1_200, 21);
    await pipeline.importEvents(a.headers, events);
    const result = (
      await resultsOk(funnelId, { date_from: "2026-02-01", date_to: "2026-02-28", test_id: testId })
    ).tests[0];
    if (!result) throw new Error("no result");
    expectFigures(
      result,
      expectedFromRaw(events, funnelId, body, { start: new Date(T0), end: new Date("2026-03-01") }),
    );
    expect(result.variants[1]?.significant).toBe(true);
    expect(result.winner?.variant_id).toBe(challenger.id);
    const [c, b] = result.variants;
    expect(result.winner?.reason).toContain(`converts at ${((b?.conversions ?? 0) / 12).toFixed(2)} %`);
    expect(result.winner?.reason).toContain(
      `against ${((c?.conversions ?? 0) / 12).toFixed(2)} % for Control`,
    );
    expect(result.winner?.reason).toContain("1,200 and 1,200 visitors");
  });

  it("declares no winner in an A/A test", async () => {
    // Exactly equal rates here: that an A/A test declares a winner at the nominal 5 % is checked on
    // thousands of simulated tests in packages/metrics (ab-test.test.ts); a single random one
    // would pass or fail by its seed.
    const { funnelId, body } = await seedTest();
    const pages = body.variants.map((variant) => variant.page_id);
    const events = bernoulliTraffic(funnelId, pages, [0.1, 0.1], 1_200, 22, { exact: true });
    await pipeline.importEvents(a.headers, events);
    const result = (await resultsOk(funnelId, { date_from: "2026-02-01", date_to: "2026-02-28" })).tests[0];
    expect(result?.variants.map((v) => v.visitors)).toEqual([1_200, 1_200]);
    expect(result?.winner).toBeNull();
    expect(result?.sample_ratio_mismatch.detected).toBe(false);
  });

  it("flags a sample-ratio mismatch and withholds the winner", async () => {
    const { funnelId, body } = await seedTest();
    const pages = body.variants.map((variant) => variant.page_id);
    const events = [
      ...bernoulliTraffic(funnelId, pages, [0.08, 0.16], 1_200, 23),
      // 300 extra control visitors: 1,500 / 1,200 against a 50/50 split.
      ...bernoulliTraffic(funnelId, [pages[0] as string], [0.08], 300, 24),
    ];
    await pipeline.importEvents(a.headers, events);
    const result = (await resultsOk(funnelId, { date_from: "2026-02-01", date_to: "2026-02-28" })).tests[0];
    expect(result?.variants.map((v) => v.visitors)).toEqual([1_500, 1_200]);
    expect(result?.variants.map((v) => v.expected_visitors)).toEqual([1_350, 1_350]);
    expect(result?.sample_ratio_mismatch.detected).toBe(true);
    expect(result?.sample_ratio_mismatch.chi_square).toBeCloseTo(2 * (150 ** 2 / 1_350), 4);
    expect(result?.winner).toBeNull();
    expect(result?.conclusion).toContain("sample ratio mismatch");
  });

  it("answers an empty list for a funnel without tests, and 404 for a test_id that is not the funnel's", async () => {
    const funnel = await seedFunnel(t.app, a.headers);
    const view = await resultsOk(funnel.funnelId, { date_from: "2026-01-01", date_to: "2026-01-31" });
    expect(view.tests).toEqual([]);
    const { testId } = await seedTest();
    const response = await results(funnel.funnelId, {
      date_from: "2026-01-01",
      date_to: "2026-01-31",
      test_id: testId,
    });
    expect(response.status).toBe(404);
  });

  it("refuses a bad period with a 400 naming the parameter", async () => {
    const funnel = await seedFunnel(t.app, a.headers);
    const cases: [Record<string, string>, string][] = [
      // A bound left out defaults (date_to to today): the one given is named.
      [{ date_from: "2099-01-01" }, "date_from"],
      [{ date_from: "2020-01-01" }, "date_from"],
      [{ date_from: "2026-02-01", date_to: "2026-01-31" }, "date_from"],
      [{ date_from: "2025-01-01", date_to: "2026-01-31" }, "date_to"],
      [{ date_from: "01/02/2026", date_to: "2026-01-31" }, "date_from"],
      [{ date_from: "2026-01-01", date_to: "2026-01-31", tz: "Not/AZone" }, "tz"],
      [{ date_from: "2026-01-01", date_to: "2026-01-31", test_id: "nope" }, "test_id"],
    ];
    for (const [query, field] of cases) {
      const response = await results(funnel.funnelId, query);
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { code: string; details: { field: string }[] } };
      expect(body.error.code).toBe("INVALID");
      expect(body.error.details.map((d) => d.field)).toContain(field);
    }
  });
});

describeAuthCases(
  "GET /api/v1/analytics/funnels/{id}/ab-tests",
  () => t,
  async ({ app, owner, headers }) => {
    const funnel = await seedFunnel(app, owner.headers);
    return app.request(
      `/api/v1/analytics/funnels/${funnel.funnelId}/ab-tests?date_from=2026-01-01&date_to=2026-01-31`,
      { headers },
    );
  },
);

// ---------------------------------------------------------------------------------------------

async function seedTest() {
  const funnel = await seedFunnel(t.app, a.headers);
  const testId = randomUUID();
  const body = abTestBody(funnel.funnelId, funnel.body, { started_at: new Date(T0).toISOString() });
  const response = await putAbTestRequest(t.app, a.headers, testId, body);
  if (response.status !== 200) throw new Error(`seedTest: ${response.status}`);
  return { funnelId: funnel.funnelId, testId, body };
}

/**
 * `perArm` visitors on each page, converting with the arm's true probability (value 2,000–6,000
 * cents), spread over February 2026: traffic whose true lift is known.
 */
function bernoulliTraffic(
  funnelId: string,
  pages: string[],
  rates: number[],
  perArm: number,
  seed: number,
  options: { exact?: boolean } = {},
) {
  const rng = new Random(seed);
  const events: TrackEvent[] = [];
  const start = Date.parse("2026-02-01T00:00:00.000Z");
  pages.forEach((page, arm) => {
    for (let i = 0; i < perArm; i++) {
      const visitor = rng.uuid();
      const time = start + rng.int(0, 26 * 24 * 3600) * 1000;
      events.push(
        ev(funnelId, visitor, {
          event_type: "page_view",
          page_id: page,
          timestamp: new Date(time).toISOString(),
        } as TrackEvent),
      );
      const p = rates[arm] ?? 0;
      // exact: every 1/p-th visitor converts, so the arm's rate is p to the visitor.
      const converts = options.exact ? Math.floor((i + 1) * p) > Math.floor(i * p) : rng.chance(p);
      if (converts) {
        events.push(
          ev(funnelId, visitor, {
            event_type: "conversion",
            conversion_type: "purchase",
            value_cents: rng.int(2_000, 6_000),
            timestamp: new Date(time + rng.int(60, 3_600) * 1000).toISOString(),
          } as TrackEvent),
        );
      }
    }
  });
  return events;
}
