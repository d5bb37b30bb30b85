import { describe, expect, it } from "vitest";
import { bucketStarts } from "./buckets";
import { average, rate, roundHalfAway } from "./events";
import {
  conversions,
  dropoffs,
  type Granularity,
  overview,
  type RawEvent,
  type RefFunnel,
  type RefPeriod,
  revenue,
  stepReport,
} from "./reports";

/**
 * The yardstick's own check: small event lists whose every figure is worked out by hand below,
 * so that a disagreement with the API can be blamed on the right side.
 */

function ev(fields: Partial<RawEvent> & Pick<RawEvent, "event_id" | "event_type" | "created_at">): RawEvent {
  return {
    funnel_id: "f1",
    visitor_id: "A",
    session_id: "a1",
    funnel_step_id: null,
    previous_step_id: null,
    next_step_id: null,
    exit_outcome: null,
    conversion_type: null,
    value_cents: null,
    order_id: null,
    referrer: null,
    utm_source: null,
    device_type: null,
    browser: null,
    is_bot: false,
    metadata: {},
    ...fields,
  };
}

const funnel: RefFunnel = {
  id: "f1",
  name: "Checkout funnel",
  // Deliberately out of order: reports list steps by position.
  steps: [
    { id: "s2", name: "Checkout", step_type: "checkout", position: 2 },
    { id: "s1", name: "Landing", step_type: "landing", position: 1 },
    { id: "s3", name: "Thanks", step_type: "thank_you", position: 3 },
  ],
};

const at = (day: string, time: string) => `2026-03-${day}T${time}.000Z`;

/*
 * Visitors (period: Mon 2026-03-02 00:00Z – Wed 2026-03-04 00:00Z, UTC):
 * - A: an earlier session a0 (returning); session a1 goes s1 → s2 → back to s1 → s2 → s3, buys, refunds.
 * - B: new (its earlier bot session does not count); bounces at s1, signs up, re-enters s2 just before
 *   the period ends and leaves it after.
 * - C: new; converts before any step entry, drops off at s1, re-enters s1 and never leaves.
 * - D: returning; entered s2 before the period, buys inside it.
 * - Z: a bot. One event belongs to another funnel.
 */
const events: RawEvent[] = [
  ev({ event_id: "e00", event_type: "page_view", session_id: "a0", created_at: "2026-02-20T08:00:00.000Z" }),
  ev({
    event_id: "e01",
    event_type: "page_view",
    created_at: at("02", "10:00:00"),
    referrer: "https://www.Google.com/x",
    device_type: "mobile",
    browser: "Safari",
  }),
  // A later utm_source still beats the earlier referrer; the later device is not the session's.
  ev({
    event_id: "e02",
    event_type: "step_entry",
    funnel_step_id: "s1",
    created_at: at("02", "10:00:10"),
    utm_source: "newsletter",
    device_type: "desktop",
  }),
  ev({
    event_id: "e03",
    event_type: "step_exit",
    funnel_step_id: "s1",
    next_step_id: "s2",
    exit_outcome: "forward",
    created_at: at("02", "10:00:40"),
  }),
  ev({
    event_id: "e04",
    event_type: "step_entry",
    funnel_step_id: "s2",
    previous_step_id: "s1",
    created_at: at("02", "10:00:40"),
  }),
  ev({
    event_id: "e05",
    event_type: "step_exit",
    funnel_step_id: "s2",
    next_step_id: "s1",
    exit_outcome: "backward",
    created_at: at("02", "10:01:40"),
  }),
  ev({
    event_id: "e06",
    event_type: "step_entry",
    funnel_step_id: "s1",
    previous_step_id: "s2",
    created_at: at("02", "10:01:40"),
  }),
  ev({
    event_id: "e07",
    event_type: "step_exit",
    funnel_step_id: "s1",
    next_step_id: "s2",
    exit_outcome: "forward",
    created_at: at("02", "10:02:00"),
  }),
  ev({
    event_id: "e08",
    event_type: "step_entry",
    funnel_step_id: "s2",
    previous_step_id: "s1",
    created_at: at("02", "10:02:00"),
  }),
  ev({
    event_id: "e09",
    event_type: "step_exit",
    funnel_step_id: "s2",
    next_step_id: "s3",
    exit_outcome: "forward",
    created_at: at("02", "10:03:00"),
  }),
  ev({
    event_id: "e10",
    event_type: "step_entry",
    funnel_step_id: "s3",
    previous_step_id: "s2",
    created_at: at("02", "10:03:00"),
  }),
  ev({
    event_id: "e11",
    event_type: "conversion",
    conversion_type: "purchase",
    value_cents: 5000,
    order_id: "o1",
    created_at: at("02", "10:03:05"),
    metadata: {
      products: [
        { product_id: "p1", product_name: "Kit", quantity: 2, price_cents: 2000 },
        { product_id: "p2", product_name: "Call", quantity: 1, price_cents: 1000 },
        "junk",
        { product_id: 7, product_name: "numeric id", quantity: 1, price_cents: 100 },
        { product_id: "p3", product_name: "bad quantity", quantity: "x", price_cents: 100 },
        { product_id: "p4", product_name: "bad price", quantity: 1, price_cents: Number.POSITIVE_INFINITY },
      ],
    },
  }),
  // Closing the last step is finishing the funnel, not dropping off.
  ev({
    event_id: "e12",
    event_type: "step_exit",
    funnel_step_id: "s3",
    exit_outcome: "close",
    created_at: at("02", "10:03:30"),
  }),
  ev({
    event_id: "e14",
    event_type: "conversion",
    conversion_type: "custom",
    created_at: at("02", "10:30:00"),
  }),
  ev({
    event_id: "e13",
    event_type: "refund",
    value_cents: 1500,
    order_id: "o1",
    created_at: at("03", "08:00:00"),
  }),

  // B
  ev({
    event_id: "e52",
    event_type: "page_view",
    visitor_id: "B",
    session_id: "b0",
    is_bot: true,
    utm_source: "botnet",
    device_type: "mobile",
    browser: "Chrome",
    created_at: "2026-02-01T00:00:00.000Z",
  }),
  ev({
    event_id: "e20",
    event_type: "step_entry",
    visitor_id: "B",
    session_id: "b1",
    funnel_step_id: "s1",
    referrer: "https://blog.example.com/post",
    created_at: at("03", "09:00:00"),
  }),
  ev({
    event_id: "e21",
    event_type: "step_exit",
    visitor_id: "B",
    session_id: "b1",
    funnel_step_id: "s1",
    exit_outcome: "bounce",
    metadata: { reason: "too slow" },
    created_at: at("03", "09:00:45"),
  }),
  ev({
    event_id: "e22",
    event_type: "conversion",
    visitor_id: "B",
    session_id: "b1",
    conversion_type: "signup",
    created_at: at("03", "09:05:00"),
  }),
  ev({
    event_id: "e23",
    event_type: "step_entry",
    visitor_id: "B",
    session_id: "b1",
    funnel_step_id: "s2",
    previous_step_id: "s1",
    created_at: at("03", "23:59:50"),
  }),
  ev({
    event_id: "e24",
    event_type: "step_exit",
    visitor_id: "B",
    session_id: "b1",
    funnel_step_id: "s2",
    next_step_id: "s3",
    exit_outcome: "forward",
    created_at: at("04", "00:00:10"),
  }),

  // C
  ev({
    event_id: "e30",
    event_type: "conversion",
    visitor_id: "C",
    session_id: "c1",
    conversion_type: "form_submit",
    value_cents: 0,
    referrer: "not a url",
    device_type: "tablet",
    browser: "Firefox",
    created_at: at("02", "12:00:00"),
  }),
  ev({
    event_id: "e31",
    event_type: "step_entry",
    visitor_id: "C",
    session_id: "c1",
    funnel_step_id: "s1",
    created_at: at("02", "12:00:30"),
  }),
  ev({
    event_id: "e32",
    event_type: "step_exit",
    visitor_id: "C",
    session_id: "c1",
    funnel_step_id: "s1",
    exit_outcome: "close",
    created_at: at("02", "12:01:00"),
  }),
  ev({
    event_id: "e33",
    event_type: "step_entry",
    visitor_id: "C",
    session_id: "c1",
    funnel_step_id: "s1",
    created_at: at("02", "12:02:00"),
  }),

  // D
  ev({
    event_id: "e40",
    event_type: "step_entry",
    visitor_id: "D",
    session_id: "d1",
    funnel_step_id: "s2",
    previous_step_id: "s1",
    referrer: "https://WWW.Google.com/search?q=kit",
    created_at: "2026-03-01T23:50:00.000Z",
  }),
  ev({
    event_id: "e41",
    event_type: "conversion",
    visitor_id: "D",
    session_id: "d1",
    conversion_type: "purchase",
    value_cents: 2500,
    metadata: {
      products: [{ product_id: "p1", product_name: "Starter kit", quantity: 1, price_cents: 2500 }],
    },
    created_at: at("02", "00:05:00"),
  }),

  // Noise that must change nothing.
  ev({
    event_id: "e50",
    event_type: "step_entry",
    visitor_id: "Z",
    session_id: "z1",
    funnel_step_id: "s1",
    is_bot: true,
    created_at: at("02", "11:00:00"),
  }),
  ev({
    event_id: "e51",
    event_type: "conversion",
    visitor_id: "Z",
    session_id: "z1",
    conversion_type: "purchase",
    value_cents: 9999,
    is_bot: true,
    created_at: at("02", "11:01:00"),
  }),
  ev({
    event_id: "e60",
    event_type: "step_entry",
    funnel_id: "f2",
    visitor_id: "E",
    session_id: "x1",
    funnel_step_id: "s1",
    created_at: at("02", "11:00:00"),
  }),
];

const period: RefPeriod = {
  start: new Date("2026-03-02T00:00:00.000Z"),
  end: new Date("2026-03-04T00:00:00.000Z"),
  timeZone: "UTC",
};
const periodJson = { start: "2026-03-02T00:00:00.000Z", end: "2026-03-04T00:00:00.000Z", time_zone: "UTC" };

describe("overview", () => {
  it("counts visitors, conversions, revenue and step rows by hand", () => {
    expect(overview(events, funnel, period)).toEqual({
      funnel_id: "f1",
      funnel_name: "Checkout funnel",
      period: periodJson,
      // A, B, C, D in sessions a1, b1, c1, d1. New: B and C (B's earlier event is a bot's);
      // A (a0 in February) and D (e40 before the period) return.
      visitors: { total: 4, unique: 4, new: 2, returning: 2 },
      // e11 5000, e14 null, e22 null, e30 0, e41 2500; all four visitors converted.
      conversions: { total: 5, rate: 1, value_cents: 7500 },
      // 7500 / 4 visitors = 1875; 7500 / 5 conversions = 1500.
      revenue: { total_cents: 7500, per_visitor_cents: 1875, per_conversion_cents: 1500 },
      steps: [
        {
          // Entries e02 e06 e20 e31 e33; exits e03 e07 e21 e32, of which e21 (bounce) and e32 (close)
          // drop off: 2/5. Visits 30 s, 20 s, 45 s, 30 s (e33 never exited): 125/4 = 31.25 → 31.
          // Latest conversion at/after first entry: A (10:03:05 ≥ 10:00:10), B (09:05 ≥ 09:00);
          // not C (12:00:00 < 12:00:30): 2/3.
          step_id: "s1",
          step_name: "Landing",
          step_type: "landing",
          visitors: 3,
          entries: 5,
          exits: 4,
          drop_offs: 2,
          drop_off_rate: 0.4,
          avg_time_seconds: 31,
          conversion_rate: 0.6667,
        },
        {
          // Entries e04 e08 (A), e23 (B); e24 exits after the period so only e05 e09 count; the
          // backward exit is no drop-off. Visits 60 s, 60 s and B's 20 s (entry inside the period,
          // exit after it); D's entry lies before the period: 140/3 = 46.67 → 47.
          // A converts after entering; B's only conversion (09:05) precedes its entry (23:59:50): 1/2.
          step_id: "s2",
          step_name: "Checkout",
          step_type: "checkout",
          visitors: 2,
          entries: 3,
          exits: 2,
          drop_offs: 0,
          drop_off_rate: 0,
          avg_time_seconds: 47,
          conversion_rate: 0.5,
        },
        {
          step_id: "s3",
          step_name: "Thanks",
          step_type: "thank_you",
          visitors: 1,
          entries: 1,
          exits: 1,
          drop_offs: 0,
          drop_off_rate: 0,
          avg_time_seconds: 30,
          conversion_rate: 1,
        },
      ],
    });
  });
});

describe("stepReport", () => {
  it("reports step s1 by day", () => {
    expect(stepReport(events, funnel, "s1", period, "day")).toEqual({
      funnel_id: "f1",
      step_id: "s1",
      step_name: "Landing",
      step_type: "landing",
      period: periodJson,
      granularity: "day",
      summary: {
        visitors: 3,
        unique_visitors: 3,
        entries: 5,
        exits: 4,
        drop_offs: 2,
        drop_off_rate: 0.4,
        avg_time_seconds: 31,
        // 20, 30, 30, 45 → (30 + 30) / 2.
        median_time_seconds: 30,
        conversion_rate: 0.6667,
      },
      over_time: [
        // Mar 2: entries e02 e06 e31 e33 by A and C; exits e03 e07 e32 (e32 drops off): 1/4;
        // visits 30, 20, 30 → 26.67 → 27.
        {
          timestamp: "2026-03-02T00:00:00.000Z",
          visitors: 2,
          entries: 4,
          exits: 3,
          drop_off_rate: 0.25,
          avg_time_seconds: 27,
        },
        // Mar 3: B's bounce.
        {
          timestamp: "2026-03-03T00:00:00.000Z",
          visitors: 1,
          entries: 1,
          exits: 1,
          drop_off_rate: 1,
          avg_time_seconds: 45,
        },
      ],
      // a1: utm newsletter (beats e01's earlier referrer); b1: blog host (the bot's utm is ignored);
      // c1: unparsable referrer → direct. Ties by name.
      traffic_sources: [
        { source: "blog.example.com", visitors: 1, percentage: 0.3333 },
        { source: "direct", visitors: 1, percentage: 0.3333 },
        { source: "newsletter", visitors: 1, percentage: 0.3333 },
      ],
      // a1's earliest event e01 is mobile/Safari; no event of b1 carried a user agent → unknown.
      devices: [
        { device_type: "mobile", visitors: 1, percentage: 0.3333 },
        { device_type: "tablet", visitors: 1, percentage: 0.3333 },
        { device_type: "unknown", visitors: 1, percentage: 0.3333 },
      ],
      browsers: [
        { browser: "Firefox", visitors: 1, percentage: 0.3333 },
        { browser: "Safari", visitors: 1, percentage: 0.3333 },
        { browser: "unknown", visitors: 1, percentage: 0.3333 },
      ],
      entry_paths: [
        { previous_step_id: null, count: 4 },
        { previous_step_id: "s2", count: 1 },
      ],
      // 2 – 2: null first.
      exit_paths: [
        { next_step_id: null, count: 2 },
        { next_step_id: "s2", count: 2 },
      ],
    });
  });

  it("pairs visits: entry before exit at one instant, orphan exits, re-entries, fractional seconds", () => {
    const t = (s: number) => new Date(Date.UTC(2026, 2, 2, 9, 0, 0) + s).toISOString();
    const step = (id: string, type: "step_entry" | "step_exit", ms: number, session = "v1") =>
      ev({ event_id: id, event_type: type, funnel_step_id: "s1", session_id: session, created_at: t(ms) });
    const visits = [
      // Same instant, exit has the smaller id: still entry first → a visit of 0 s.
      step("x1", "step_entry", 0),
      step("x0", "step_exit", 0),
      step("x3", "step_exit", 10_000), // no entry right before it: no visit
      step("x4", "step_entry", 20_000), // followed by another entry: never exited
      step("x5", "step_entry", 30_000),
      step("x6", "step_exit", 40_000), // 10 s
      step("y1", "step_entry", 0, "v2"),
      step("y2", "step_exit", 1_500, "v2"), // 1.5 s
    ];
    const report = stepReport(visits, funnel, "s1", period, "day");
    // Times 0, 10, 1.5 s: mean 3.83 → 4, median 1.5 → 2.
    expect(report.summary).toMatchObject({
      entries: 4,
      exits: 4,
      avg_time_seconds: 4,
      median_time_seconds: 2,
    });
    const alone = stepReport(visits.slice(-2), funnel, "s1", period, "day");
    expect(alone.summary).toMatchObject({ avg_time_seconds: 2, median_time_seconds: 2 });
  });

  it("counts a visitor once per distinct session trait and keeps the top 10", () => {
    const entry = (id: string, visitor: string, session: string, extra: Partial<RawEvent>) =>
      ev({
        event_id: id,
        event_type: "step_entry",
        funnel_step_id: "s1",
        visitor_id: visitor,
        session_id: session,
        created_at: at("02", "09:00:00"),
        ...extra,
      });
    const twoWays = [
      entry("m1", "V", "v1", { utm_source: "ads", device_type: "mobile" }),
      entry("m2", "V", "v2", {}),
      entry("m3", "W", "w1", { referrer: "mailto:someone@example.com" }), // no host → direct
    ];
    const report = stepReport(twoWays, funnel, "s1", period, "day");
    expect(report.traffic_sources).toEqual([
      { source: "direct", visitors: 2, percentage: 1 },
      { source: "ads", visitors: 1, percentage: 0.5 },
    ]);
    // v2 and w1 carried no user agent.
    expect(report.devices).toEqual([
      { device_type: "unknown", visitors: 2, percentage: 1 },
      { device_type: "mobile", visitors: 1, percentage: 0.5 },
    ]);

    const many = Array.from({ length: 12 }, (_, i) => {
      const n = String(i).padStart(2, "0");
      return entry(`n${n}`, `V${n}`, `v${n}`, { utm_source: `src${n}` });
    });
    const sources = stepReport(many, funnel, "s1", period, "day").traffic_sources;
    expect(sources.map((s) => s.source)).toEqual(Array.from({ length: 10 }, (_, i) => `src0${i}`.slice(-5)));
    expect(sources[0]).toEqual({ source: "src00", visitors: 1, percentage: 0.0833 });
  });

  it("takes a session's device from its first event with a user agent, and leaves a bot's session out whole", () => {
    const t = (minute: number) => at("02", `09:${String(minute).padStart(2, "0")}:00`);
    const traffic = [
      // u1: the entry came from a server (no user agent); the page views after it from an iPad.
      ev({
        event_id: "u1",
        event_type: "step_entry",
        funnel_step_id: "s1",
        visitor_id: "U",
        session_id: "u1",
        created_at: t(0),
      }),
      ev({
        event_id: "u2",
        event_type: "page_view",
        visitor_id: "U",
        session_id: "u1",
        device_type: "tablet",
        browser: "Safari",
        created_at: t(1),
      }),
      ev({
        event_id: "u3",
        event_type: "page_view",
        visitor_id: "U",
        session_id: "u1",
        device_type: "desktop",
        browser: "Chrome",
        created_at: t(2),
      }),
      // n1: no event carried a user agent.
      ev({
        event_id: "n1",
        event_type: "step_entry",
        funnel_step_id: "s1",
        visitor_id: "N",
        session_id: "n1",
        created_at: t(3),
      }),
      ev({
        event_id: "n2",
        event_type: "conversion",
        conversion_type: "purchase",
        value_cents: 900,
        visitor_id: "N",
        session_id: "n1",
        created_at: t(4),
      }),
      // m1: a human-looking entry, then a crawler's page view in the same session.
      ev({
        event_id: "m1",
        event_type: "step_entry",
        funnel_step_id: "s1",
        visitor_id: "M",
        session_id: "m1",
        device_type: "mobile",
        browser: "Chrome",
        created_at: t(5),
      }),
      ev({
        event_id: "m2",
        event_type: "page_view",
        visitor_id: "M",
        session_id: "m1",
        is_bot: true,
        created_at: t(6),
      }),
    ];
    const report = stepReport(traffic, funnel, "s1", period, "day");
    expect(report.summary).toMatchObject({ visitors: 2, entries: 2, conversion_rate: 0.5 });
    expect(report.devices).toEqual([
      { device_type: "tablet", visitors: 1, percentage: 0.5 },
      { device_type: "unknown", visitors: 1, percentage: 0.5 },
    ]);
    expect(report.browsers).toEqual([
      { browser: "Safari", visitors: 1, percentage: 0.5 },
      { browser: "unknown", visitors: 1, percentage: 0.5 },
    ]);
    expect(overview(traffic, funnel, period).visitors).toMatchObject({ unique: 2, total: 2 });
  });
});

describe("conversions", () => {
  it("summarises, types, attributes and paginates by hand", () => {
    const report = conversions(events, funnel, period, "day", 1, 2);
    expect(report).toEqual({
      funnel_id: "f1",
      period: periodJson,
      granularity: "day",
      // Values carried by e11, e30 (0) and e41: 7500 / 3.
      summary: { total_conversions: 5, conversion_rate: 1, total_value_cents: 7500, avg_value_cents: 2500 },
      by_type: [
        { conversion_type: "form_submit", count: 1, rate: 0.25, value_cents: 0 },
        { conversion_type: "purchase", count: 2, rate: 0.5, value_cents: 7500 },
        { conversion_type: "signup", count: 1, rate: 0.25, value_cents: 0 },
        { conversion_type: "custom", count: 1, rate: 0.25, value_cents: 0 },
      ],
      // e11, e14 → s3 (A's latest entry e10); e22 → s1 (e20; e23 comes later); e41 → s2 through D's
      // entry before the period; e30 precedes every entry of c1: unattributed.
      by_step: [
        { step_id: "s1", step_name: "Landing", conversions: 1, conversion_rate: 0.3333 },
        { step_id: "s2", step_name: "Checkout", conversions: 1, conversion_rate: 0.5 },
        { step_id: "s3", step_name: "Thanks", conversions: 2, conversion_rate: 1 },
      ],
      over_time: [
        // Mar 2: e11 e14 e30 e41 by A, C, D, who are all of that day's visitors.
        { timestamp: "2026-03-02T00:00:00.000Z", conversions: 4, rate: 1, value_cents: 7500 },
        // Mar 3: visitors A (refund) and B; B converts.
        { timestamp: "2026-03-03T00:00:00.000Z", conversions: 1, rate: 0.5, value_cents: 0 },
      ],
      // Newest last conversion first: B (Mar 3 09:05), C (12:00), A (10:30), D (00:05).
      converting_visitors: [
        {
          visitor_id: "B",
          session_id: "b1",
          conversions: 1,
          total_value_cents: 0,
          first_conversion_at: "2026-03-03T09:05:00.000Z",
          last_conversion_at: "2026-03-03T09:05:00.000Z",
        },
        {
          visitor_id: "C",
          session_id: "c1",
          conversions: 1,
          total_value_cents: 0,
          first_conversion_at: "2026-03-02T12:00:00.000Z",
          last_conversion_at: "2026-03-02T12:00:00.000Z",
        },
      ],
      pagination: { page: 1, page_size: 2, total: 4 },
    });

    const second = conversions(events, funnel, period, "day", 2, 2);
    expect(second.converting_visitors).toEqual([
      {
        visitor_id: "A",
        session_id: "a1",
        conversions: 2,
        total_value_cents: 5000,
        first_conversion_at: "2026-03-02T10:03:05.000Z",
        last_conversion_at: "2026-03-02T10:30:00.000Z",
      },
      {
        visitor_id: "D",
        session_id: "d1",
        conversions: 1,
        total_value_cents: 2500,
        first_conversion_at: "2026-03-02T00:05:00.000Z",
        last_conversion_at: "2026-03-02T00:05:00.000Z",
      },
    ]);
    expect(conversions(events, funnel, period, "day", 3, 2).converting_visitors).toEqual([]);
  });

  it("attributes to the greatest event_id among entries at the conversion's instant", () => {
    const instant = at("02", "09:00:00");
    const tied = [
      ev({ event_id: "k2", event_type: "step_entry", funnel_step_id: "s1", created_at: instant }),
      ev({ event_id: "k9", event_type: "step_entry", funnel_step_id: "s2", created_at: instant }),
      ev({
        event_id: "k5",
        event_type: "step_entry",
        funnel_step_id: "s3",
        created_at: at("02", "09:00:01"),
      }),
      ev({ event_id: "k1", event_type: "conversion", conversion_type: "signup", created_at: instant }),
    ];
    expect(conversions(tied, funnel, period, "day", 1, 50).by_step.map((s) => s.conversions)).toEqual([
      0, 1, 0,
    ]);
  });
});

describe("dropoffs", () => {
  it("builds the drop-off funnel and exit reasons by hand", () => {
    expect(dropoffs(events, funnel, period)).toEqual({
      funnel_id: "f1",
      period: periodJson,
      // 1 − 1/3.
      overall_drop_off_rate: 0.6667,
      steps_with_drop_off: [
        {
          step_id: "s1",
          step_name: "Landing",
          drop_offs: 2,
          drop_off_rate: 0.4,
          severity: "medium",
          // e21 by its reason, e32 (no reason) by its outcome; forward exits are not reasons.
          common_exit_reasons: [
            { reason: "close", count: 1, percentage: 0.5 },
            { reason: "too slow", count: 1, percentage: 0.5 },
          ],
        },
      ],
      drop_off_funnel: [
        { step_id: "s1", step_name: "Landing", visitors: 3, drop_offs: 2, cumulative_drop_off_rate: 0 },
        { step_id: "s2", step_name: "Checkout", visitors: 2, drop_offs: 0, cumulative_drop_off_rate: 0.3333 },
        { step_id: "s3", step_name: "Thanks", visitors: 1, drop_offs: 0, cumulative_drop_off_rate: 0.6667 },
      ],
    });
  });

  it("clamps a later step with more visitors than the first", () => {
    const later = [
      ev({
        event_id: "g1",
        event_type: "step_entry",
        funnel_step_id: "s2",
        created_at: at("02", "09:00:00"),
      }),
    ];
    const report = dropoffs(later, funnel, period);
    // No first-step visitors: every cumulative rate has a zero denominator.
    expect(report.drop_off_funnel.map((s) => s.cumulative_drop_off_rate)).toEqual([0, 0, 0]);
    const more = [
      ...later,
      ev({
        event_id: "g2",
        event_type: "step_entry",
        funnel_step_id: "s1",
        created_at: at("02", "08:00:00"),
      }),
      ev({
        event_id: "g3",
        event_type: "step_entry",
        visitor_id: "B",
        session_id: "b1",
        funnel_step_id: "s2",
        created_at: at("02", "08:00:00"),
      }),
    ];
    // s2 has 2 visitors against 1 at s1: 1 − 2 clamps to 0.
    expect(dropoffs(more, funnel, period).drop_off_funnel.map((s) => s.cumulative_drop_off_rate)).toEqual([
      0, 0, 1,
    ]);
  });
});

describe("revenue", () => {
  it("sums orders, refunds, sources, steps and products by hand", () => {
    expect(revenue(events, funnel, period, "day")).toEqual({
      funnel_id: "f1",
      period: periodJson,
      granularity: "day",
      // Orders e11 (5000) and e41 (2500); refund e13 (1500).
      summary: {
        total_revenue_cents: 7500,
        revenue_per_visitor_cents: 1875,
        revenue_per_conversion_cents: 1500,
        refund_rate: 0.5,
        net_revenue_cents: 6000,
      },
      // d1's source comes from its event before the period: WWW.Google.com → google.com.
      by_source: [
        { source: "newsletter", revenue_cents: 5000, percentage: 0.6667 },
        { source: "google.com", revenue_cents: 2500, percentage: 0.3333 },
      ],
      by_step: [
        { step_id: "s1", step_name: "Landing", revenue_cents: 0, orders: 0, avg_order_value_cents: 0 },
        { step_id: "s2", step_name: "Checkout", revenue_cents: 2500, orders: 1, avg_order_value_cents: 2500 },
        { step_id: "s3", step_name: "Thanks", revenue_cents: 5000, orders: 1, avg_order_value_cents: 5000 },
      ],
      over_time: [
        {
          timestamp: "2026-03-02T00:00:00.000Z",
          revenue_cents: 7500,
          orders: 2,
          avg_order_value_cents: 3750,
        },
        { timestamp: "2026-03-03T00:00:00.000Z", revenue_cents: 0, orders: 0, avg_order_value_cents: 0 },
      ],
      // p1: 1 × 2500 (D, 00:05) + 2 × 2000 (A, 10:03:05), named after A's later order. The four
      // malformed items of e11 are skipped.
      top_products: [
        { product_id: "p1", product_name: "Kit", revenue_cents: 6500, units_sold: 3 },
        { product_id: "p2", product_name: "Call", revenue_cents: 1000, units_sold: 1 },
      ],
    });
  });
});

describe("refunds against their order", () => {
  const purchase = (id: string, orderId: string, cents: number, day: string, funnelId = "f1") =>
    ev({
      event_id: id,
      event_type: "conversion",
      conversion_type: "purchase",
      value_cents: cents,
      order_id: orderId,
      funnel_id: funnelId,
      created_at: at(day, "09:00:00"),
    });
  const refund = (id: string, orderId: string, cents: number, day: string, time = "12:00:00") =>
    ev({
      event_id: id,
      event_type: "refund",
      value_cents: cents,
      order_id: orderId,
      created_at: at(day, time),
    });
  const summary = (events: RawEvent[]) => revenue(events, funnel, period, "day").summary;

  it("counts nothing for a refund without an order, nor for one of another funnel's order", () => {
    expect(
      summary([
        purchase("p1", "o1", 1000, "02"),
        refund("r1", "nope", 2_147_483_647, "02"),
        purchase("p9", "o9", 5000, "01", "f2"),
        refund("r9", "o9", 5000, "03"),
      ]),
    ).toMatchObject({ total_revenue_cents: 1000, refund_rate: 0, net_revenue_cents: 1000 });
  });

  it("caps an order's refunds together at its value, oldest refund first", () => {
    // o1 is worth 1000: r1 counts 600, r2 the 400 left, r3 nothing (it does not count as a refund).
    expect(
      summary([
        purchase("p1", "o1", 1000, "02"),
        refund("r3", "o1", 600, "03", "12:00:00"),
        refund("r1", "o1", 600, "02", "10:00:00"),
        refund("r2", "o1", 600, "02", "11:00:00"),
        purchase("p2", "o2", 500, "02"),
      ]),
    ).toMatchObject({ total_revenue_cents: 1500, refund_rate: 1, net_revenue_cents: 500 });
  });

  it("takes the earliest conversion with a value as the order, and counts a refund in its own period", () => {
    // The order of o1 is p0 (300, before the period); p1 repeats the id. r1 takes 300, r2 nothing.
    expect(
      summary([
        purchase("p0", "o1", 300, "01"),
        purchase("p1", "o1", 4000, "02"),
        refund("r1", "o1", 1000, "02"),
        refund("r2", "o1", 1000, "03"),
      ]),
    ).toMatchObject({ total_revenue_cents: 4000, refund_rate: 1, net_revenue_cents: 3700 });
  });
});

describe("time-zone buckets", () => {
  const order = (id: string, createdAt: string, cents = 100) =>
    ev({
      event_id: id,
      event_type: "conversion",
      conversion_type: "purchase",
      value_cents: cents,
      created_at: createdAt,
    });
  const buckets = (p: RefPeriod, g: Granularity) =>
    bucketStarts(p, g).map((ms) => new Date(ms).toISOString());

  it("America/New_York across the March DST change", () => {
    // Local Mar 7 – Mar 9 inclusive; Mar 8 has 23 hours (EST −5 → EDT −4).
    const ny: RefPeriod = {
      start: new Date("2026-03-07T05:00:00.000Z"),
      end: new Date("2026-03-10T04:00:00.000Z"),
      timeZone: "America/New_York",
    };
    const report = revenue(
      [
        order("o1", "2026-03-08T04:30:00.000Z"), // Mar 7 23:30 EST
        order("o2", "2026-03-09T03:30:00.000Z", 300), // Mar 8 23:30 EDT
        order("o3", "2026-03-09T04:30:00.000Z", 500), // Mar 9 00:30 EDT (would be Mar 8 at −5)
      ],
      funnel,
      ny,
      "day",
    );
    expect(report.over_time.map((b) => [b.timestamp, b.revenue_cents])).toEqual([
      ["2026-03-07T05:00:00.000Z", 100],
      ["2026-03-08T05:00:00.000Z", 300],
      ["2026-03-09T04:00:00.000Z", 500],
    ]);

    const dstDay = { start: new Date("2026-03-08T05:00:00.000Z"), end: new Date("2026-03-09T04:00:00.000Z") };
    const hours = buckets({ ...dstDay, timeZone: "America/New_York" }, "hour");
    expect(hours).toHaveLength(23);
    // 01:00 EST is followed by 03:00 EDT, one real hour later.
    expect(hours.slice(0, 3)).toEqual([
      "2026-03-08T05:00:00.000Z",
      "2026-03-08T06:00:00.000Z",
      "2026-03-08T07:00:00.000Z",
    ]);
    const fallBack = buckets(
      {
        start: new Date("2026-11-01T04:00:00.000Z"),
        end: new Date("2026-11-02T05:00:00.000Z"),
        timeZone: "America/New_York",
      },
      "hour",
    );
    expect(fallBack).toHaveLength(25);

    // Wed Mar 4 – Tue Mar 10: weeks of Mon Mar 2 (EST) and Mon Mar 9 (EDT). An order on Tue Mar 3
    // lies in the first week but before the period.
    const weeks: RefPeriod = {
      start: new Date("2026-03-04T05:00:00.000Z"),
      end: new Date("2026-03-11T04:00:00.000Z"),
      timeZone: "America/New_York",
    };
    const weekly = revenue(
      [order("w0", "2026-03-03T15:00:00.000Z", 999), order("w1", "2026-03-09T12:00:00.000Z", 200)],
      funnel,
      weeks,
      "week",
    );
    expect(weekly.over_time.map((b) => [b.timestamp, b.revenue_cents])).toEqual([
      ["2026-03-02T05:00:00.000Z", 0],
      ["2026-03-09T04:00:00.000Z", 200],
    ]);
  });

  it("Asia/Kathmandu (+05:45) days and hours", () => {
    const ktm: RefPeriod = {
      start: new Date("2026-02-28T18:15:00.000Z"),
      end: new Date("2026-03-02T18:15:00.000Z"),
      timeZone: "Asia/Kathmandu",
    };
    const daily = revenue(
      [order("k1", "2026-03-01T18:14:59.999Z", 100), order("k2", "2026-03-01T18:15:00.000Z", 200)],
      funnel,
      ktm,
      "day",
    );
    expect(daily.over_time.map((b) => [b.timestamp, b.revenue_cents])).toEqual([
      ["2026-02-28T18:15:00.000Z", 100],
      ["2026-03-01T18:15:00.000Z", 200],
    ]);

    // A period starting at 05:45 local: the first hour bucket starts 45 minutes before it, and what
    // lies in that bucket before the period does not count.
    const hourly: RefPeriod = {
      start: new Date("2026-03-01T00:00:00.000Z"),
      end: new Date("2026-03-01T01:00:00.000Z"),
      timeZone: "Asia/Kathmandu",
    };
    const report = conversions(
      [
        order("h0", "2026-02-28T23:30:00.000Z"),
        order("h1", "2026-03-01T00:10:00.000Z"),
        order("h2", "2026-03-01T00:15:00.000Z"),
      ],
      funnel,
      hourly,
      "hour",
      1,
      50,
    );
    expect(report.over_time.map((b) => [b.timestamp, b.conversions])).toEqual([
      ["2026-02-28T23:15:00.000Z", 1],
      ["2026-03-01T00:15:00.000Z", 1],
    ]);
  });
});

describe("rounding", () => {
  it("rounds half away from zero, decimal-exactly", () => {
    expect(roundHalfAway(1.00005 * 1e4)).toBe(10001);
    expect(rate(1, 32)).toBe(0.0313); // 0.03125
    expect(rate(3, 32)).toBe(0.0938); // 0.09375
    expect(rate(2, 3)).toBe(0.6667);
    expect(rate(1, 0)).toBe(0);
    expect(rate(3, 2)).toBe(1);
    expect(average(1001, 2)).toBe(501);
    expect(average(-3, 2)).toBe(-2);
    expect(average(5, 0)).toBe(0);
  });
});
