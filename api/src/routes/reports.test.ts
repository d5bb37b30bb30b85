import { randomUUID } from "node:crypto";
import type { TrackEvent } from "@funnel/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pageView } from "../ingest/testing";
import { cachedReport, retireCachedReports } from "../services/analytics/reports/context";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  describeAuthCases,
  type EventPipeline,
  seedFunnel,
  startEventPipeline,
  type TestApp,
} from "../testing";

/**
 * What the report routes share beyond their figures (those are the reference suite's): parameter
 * errors that name the parameter, 404s, the security cases, and the cache's freshness rule.
 */

const CACHE_SECONDS = 2;

let t: TestApp;
let pipeline: EventPipeline;
let a: AccountWithKey;

beforeAll(async () => {
  t = await createTestApp({ config: { REPORT_CACHE_SECONDS: CACHE_SECONDS } });
  pipeline = startEventPipeline(t);
  a = await createAccountWithKey(t.deps.database);
});
afterAll(async () => {
  await pipeline?.close();
  await t?.close();
});

const REPORTS = ["overview", "conversions", "dropoffs", "revenue"] as const;
const PERIOD = "date_from=2026-01-01&date_to=2026-01-31";

function get(path: string, headers = a.headers) {
  return t.app.request(path, { headers });
}

describe("report parameters", () => {
  it.each([
    ["date_from", "date_from=2026-13-01&date_to=2026-01-31"],
    ["date_from", "date_from=2099-01-01"],
    ["date_to", "date_from=2026-01-01&date_to=yesterday"],
    ["date_from", "date_from=2026-02-01&date_to=2026-01-01"],
    ["date_to", "date_from=2025-01-01&date_to=2026-01-31"],
    ["tz", `${PERIOD}&tz=Mars/Olympus`],
    ["granularity", `${PERIOD}&granularity=month`],
    ["page_size", `${PERIOD}&page_size=501`],
    ["page", `${PERIOD}&page=0`],
  ])("400 naming %s for %s", async (field, query) => {
    const { funnelId } = await seedFunnel(t.app, a.headers);
    const route = field.startsWith("page") ? "conversions" : field === "granularity" ? "revenue" : "overview";
    const response = await get(`/api/v1/analytics/funnels/${funnelId}/${route}?${query}`);
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain(field);
  });

  it("404 for an unknown funnel, an unknown step and a step of another funnel", async () => {
    const { funnelId } = await seedFunnel(t.app, a.headers);
    const other = await seedFunnel(t.app, a.headers);
    const otherStep = other.body.steps[0]?.id;
    for (const path of [
      `/api/v1/analytics/funnels/${randomUUID()}/overview?${PERIOD}`,
      `/api/v1/analytics/funnels/${funnelId}/steps/${randomUUID()}?${PERIOD}`,
      `/api/v1/analytics/funnels/${funnelId}/steps/${otherStep}?${PERIOD}`,
    ]) {
      const response = await get(path);
      expect(response.status, path).toBe(404);
    }
  });

  it("answers an empty funnel with zeros, every step listed and every bucket present", async () => {
    const { funnelId, body } = await seedFunnel(t.app, a.headers);
    const overview = (await (
      await get(`/api/v1/analytics/funnels/${funnelId}/overview?${PERIOD}`)
    ).json()) as {
      visitors: { unique: number };
      steps: { step_id: string; visitors: number }[];
    };
    expect(overview.visitors.unique).toBe(0);
    expect(overview.steps.map((s) => s.step_id)).toEqual(body.steps.map((s) => s.id));
    const revenue = (await (
      await get(`/api/v1/analytics/funnels/${funnelId}/revenue?${PERIOD}&granularity=day`)
    ).json()) as { over_time: { revenue_cents: number }[] };
    expect(revenue.over_time).toHaveLength(31);
    expect(revenue.over_time.every((b) => b.revenue_cents === 0)).toBe(true);
  });
});

describe("report cache", () => {
  it(`serves a report for ${CACHE_SECONDS} s, then reflects every event stored before the request`, async () => {
    const { funnelId } = await seedFunnel(t.app, a.headers);
    const visitors = async () => {
      const response = await get(`/api/v1/analytics/funnels/${funnelId}/overview?${PERIOD}`);
      return ((await response.json()) as { visitors: { unique: number } }).visitors.unique;
    };
    await pipeline.importEvents(a.headers, [
      pageView(funnelId, { timestamp: "2026-01-10T10:00:00Z" }) as TrackEvent,
    ]);
    expect(await visitors()).toBe(1);
    await pipeline.importEvents(a.headers, [
      pageView(funnelId, { timestamp: "2026-01-10T11:00:00Z" }) as TrackEvent,
    ]);
    // Stored, but the cached report is younger than the cache time.
    expect(await visitors()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, CACHE_SECONDS * 1000 + 100));
    expect(await visitors()).toBe(2);
  });

  it("never serves a report computed while the account's cached reports were retired", async () => {
    // A consent withdrawal retires the account's cached reports after its commit; a report being
    // computed at that moment, from the rows as they were, must not be served afterwards.
    const { funnelId } = await seedFunnel(t.app, a.headers);
    const input = { funnelId, date_from: "2026-01-01", date_to: "2026-01-31" };
    let release = () => {};
    const paused = new Promise<void>((resolve) => {
      release = resolve;
    });
    let builds = 0;
    const build = async () => {
      builds++;
      const version = builds;
      if (version === 1) await paused;
      return { version };
    };
    const stale = cachedReport(t.deps, a, "race", input, {}, build);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await retireCachedReports(t.deps, a.accountId);
    release();
    expect(await stale).toMatchObject({ version: 1 });
    expect(await cachedReport(t.deps, a, "race", input, {}, build)).toMatchObject({ version: 2 });
    // And the fresh one is cached as usual.
    expect(await cachedReport(t.deps, a, "race", input, {}, build)).toMatchObject({ version: 2 });
  });

  it("keeps one account's cached report from another account", async () => {
    const { funnelId } = await seedFunnel(t.app, a.headers);
    expect((await get(`/api/v1/analytics/funnels/${funnelId}/overview?${PERIOD}`)).status).toBe(200);
    const b = await createAccountWithKey(t.deps.database);
    expect((await get(`/api/v1/analytics/funnels/${funnelId}/overview?${PERIOD}`, b.headers)).status).toBe(
      404,
    );
  });
});

for (const report of REPORTS) {
  describeAuthCases(
    `GET /api/v1/analytics/funnels/{id}/${report}`,
    () => t,
    async ({ app, owner, headers }) => {
      const funnel = await seedFunnel(app, owner.headers);
      return app.request(`/api/v1/analytics/funnels/${funnel.funnelId}/${report}?${PERIOD}`, { headers });
    },
  );
}

describeAuthCases(
  "GET /api/v1/analytics/funnels/{id}/steps/{step_id}",
  () => t,
  async ({ app, owner, headers }) => {
    const funnel = await seedFunnel(app, owner.headers);
    return app.request(
      `/api/v1/analytics/funnels/${funnel.funnelId}/steps/${funnel.body.steps[0]?.id}?${PERIOD}`,
      { headers },
    );
  },
);
