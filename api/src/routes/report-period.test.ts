import { getExport } from "@funnel/db/queries/exports";
import type { TrackEvent } from "@funnel/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pageView } from "../ingest/testing";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  type EventPipeline,
  seedAbTest,
  startEventPipeline,
  type TestApp,
} from "../testing";

/**
 * A report asked without `date_from` and `date_to` covers the last 30 days in its time zone: today
 * (a plain date, inclusive) and the 29 days before. Checked against the same request with those
 * dates written out, computed here from the clock with Intl, on every route that takes a period.
 */

const DAY_MS = 86_400_000;
// UTC+14 all year: its "today" is not UTC's for ten hours of each day, and it has no DST.
const TZ = "Pacific/Kiritimati";

let t: TestApp;
let pipeline: EventPipeline;
let a: AccountWithKey;
let funnelId: string;
let stepId: string;

beforeAll(async () => {
  // Uncached, so that the written-out request computes its report rather than reading the other's.
  t = await createTestApp({ config: { REPORT_CACHE_SECONDS: 0 } });
  pipeline = startEventPipeline(t);
  a = await createAccountWithKey(t.deps.database);
  const seeded = await seedAbTest(t.app, a.headers);
  funnelId = seeded.funnelId;
  const funnel = (await (await get(`/api/v1/funnels/${funnelId}`)).json()) as { steps: { id: string }[] };
  stepId = funnel.steps[0]?.id ?? "";
  const now = Date.now();
  // One visitor inside the default period, one 40 days ago outside it.
  await pipeline.importEvents(a.headers, [
    pageViewAt(new Date(now - 2 * 3_600_000)),
    pageViewAt(new Date(now - 40 * DAY_MS)),
  ]);
});
afterAll(async () => {
  await pipeline?.close();
  await t?.close();
});

function get(path: string) {
  return t.app.request(path, { headers: a.headers });
}

/** A browser's page view of the funnel at `at`. */
const pageViewAt = (at: Date) => pageView(funnelId, { timestamp: at.toISOString() }) as TrackEvent;

/** The calendar date in `timeZone` at `instant`, YYYY-MM-DD. */
function dateIn(timeZone: string, instant: Date): string {
  return new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(instant);
}

/** `date` plus `days` calendar days. */
function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

/**
 * The answers without dates and with today's 30 days written out, from the same day: retried when
 * the zone's midnight falls between the two requests.
 */
async function defaultAndExplicit(path: string, query: string, timeZone: string) {
  for (;;) {
    const today = dateIn(timeZone, new Date());
    const implicit = await get(`${path}?${query}`);
    const explicit = await get(`${path}?${query}&date_from=${addDays(today, -29)}&date_to=${today}`);
    if (dateIn(timeZone, new Date()) === today) return { today, implicit, explicit };
  }
}

const routes = () => [
  `/api/v1/analytics/funnels/${funnelId}/overview`,
  `/api/v1/analytics/funnels/${funnelId}/steps/${stepId}`,
  `/api/v1/analytics/funnels/${funnelId}/conversions`,
  `/api/v1/analytics/funnels/${funnelId}/dropoffs`,
  `/api/v1/analytics/funnels/${funnelId}/revenue`,
  `/api/v1/analytics/funnels/${funnelId}/ab-tests`,
];

describe("a report without date_from and date_to", () => {
  it("covers the last 30 days in the report's time zone, on every report route", async () => {
    for (const path of routes()) {
      for (const timeZone of [TZ, "UTC"]) {
        const { today, implicit, explicit } = await defaultAndExplicit(path, `tz=${timeZone}`, timeZone);
        expect(implicit.status, path).toBe(200);
        expect(explicit.status, path).toBe(200);
        const body = (await implicit.json()) as { period: { start: string; end: string; time_zone: string } };
        expect(body, path).toEqual(await explicit.json());
        expect(body.period.time_zone).toBe(timeZone);
        // Neither zone has DST: exactly 30 days, ending where tomorrow starts in the zone.
        const start = new Date(body.period.start);
        const end = new Date(body.period.end);
        expect(end.getTime() - start.getTime()).toBe(30 * DAY_MS);
        expect(dateIn(timeZone, start)).toBe(addDays(today, -29));
        expect(dateIn(timeZone, end)).toBe(addDays(today, 1));
        expect(dateIn(timeZone, new Date(end.getTime() - 1))).toBe(today);
      }
    }
  });

  it("counts the events of those 30 days only", async () => {
    const response = await get(`/api/v1/analytics/funnels/${funnelId}/overview?tz=${TZ}`);
    const overview = (await response.json()) as { visitors: { unique: number } };
    expect(overview.visitors.unique).toBe(1);
  });

  it("runs a date_from alone through today and a date_to alone over the 30 days up to it", async () => {
    const path = `/api/v1/analytics/funnels/${funnelId}/overview`;
    const today = dateIn(TZ, new Date());
    const from = (await (await get(`${path}?tz=${TZ}&date_from=${addDays(today, -3)}`)).json()) as {
      period: { start: string; end: string };
    };
    expect(dateIn(TZ, new Date(from.period.start))).toBe(addDays(today, -3));
    expect(dateIn(TZ, new Date(new Date(from.period.end).getTime() - 1))).toBe(today);

    const to = (await (await get(`${path}?tz=${TZ}&date_to=2026-03-31`)).json()) as {
      period: { start: string; end: string };
    };
    expect(dateIn(TZ, new Date(to.period.start))).toBe("2026-03-02");
    expect(new Date(to.period.end).getTime() - new Date(to.period.start).getTime()).toBe(30 * DAY_MS);
  });

  it("still refuses bad values, naming the parameter", async () => {
    const path = `/api/v1/analytics/funnels/${funnelId}/overview`;
    for (const [query, field] of [
      ["date_from=2026-13-01", "date_from"],
      ["date_to=yesterday", "date_to"],
      [`date_from=${addDays(dateIn("UTC", new Date()), 3)}`, "date_from"],
      ["date_from=2020-01-01", "date_from"],
      ["tz=Mars/Olympus", "tz"],
    ] as const) {
      const response = await get(`${path}?${query}`);
      expect(response.status, query).toBe(400);
      const body = (await response.json()) as { error: { details?: { field: string }[] } };
      expect(body.error.details?.map((d) => d.field)).toEqual([field]);
    }
  });

  it("an export without dates renders the 30 days up to the day it was asked", async () => {
    const asked = new Date("2026-03-10T23:30:00Z");
    const clock = t.deps.exports.now;
    t.deps.exports.now = () => asked;
    try {
      const response = await t.app.request("/api/v1/analytics/export", {
        method: "POST",
        headers: { ...a.headers, "content-type": "application/json" },
        body: JSON.stringify({ funnel_id: funnelId, report_type: "overview", format: "csv", tz: TZ }),
      });
      expect(response.status).toBe(202);
      const { job_id } = (await response.json()) as { job_id: string };
      const row = await getExport(t.deps.database.db, a.accountId, job_id);
      // 23:30 UTC on 10 March is 13:30 on 11 March in Kiritimati.
      expect(row?.params).toMatchObject({ date_from: "2026-02-10", date_to: "2026-03-11", tz: TZ });
    } finally {
      t.deps.exports.now = clock;
    }
  });
});
