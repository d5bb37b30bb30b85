/**
 * The dashboard in a real browser: the product starts on the embedded default with its demo data,
 * headless Chromium (Debian's, driven by playwright-core) loads `/` with every off-origin request
 * blocked, signs in with the demo key, picks a period and a time zone, and opens every view. Each
 * figure on the page is read back from its formatted text and compared with the API's own answer
 * for the same funnel, period and time zone. Then the states a user meets: an empty period, a
 * revoked key, a server that is down. A screenshot of each view is kept in test/e2e/screenshots/.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { type Browser, chromium, type Locator, type Page, type Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiProcess, startApi } from "../support/api-process";
import { repoRoot } from "../support/services";

const run = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), "funnel-dashboard-"));
const screenshots = resolve(repoRoot, "test/e2e/screenshots");
const BUDGET_BYTES = 150 * 1024;
/** The browser's own zone, and the one picked in the page: the page must send the picked one. */
const BROWSER_ZONE = "Asia/Tokyo";
const ZONE = "America/New_York";
const DAYS = 30;
/** The machine may be busy: a view can take seconds to load. */
const SLOW_POLL = { timeout: 30_000 };

let api: ApiProcess;
let apiKey: string;
let browser: Browser;
let page: Page;
const offOrigin: string[] = [];
const asked: URL[] = [];
const loaded: { url: string; type: string; bytes: Buffer }[] = [];

const lastLine = (text: string) => text.trim().split("\n").at(-1) ?? "";

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** One of the key commands as its own process, as `pnpm keys:*` runs it (through the running API). */
async function keys(command: "create" | "revoke", args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", resolve(repoRoot, `api/src/cli/keys-${command}.ts`), ...args],
    {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "silent", DATA_DIR: dataDir },
      timeout: 120_000,
    },
  );
  return lastLine(stdout);
}

async function apiGet<T>(path: string, params: Record<string, string | number> = {}): Promise<T> {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
  const response = await fetch(`${api.url}${path}?${query}`, {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
}

/** Today in a time zone as YYYY-MM-DD, and the last `days` whole days up to it. */
function lastDays(days: number, timeZone: string) {
  const today = new Intl.DateTimeFormat("en-CA", { timeZone }).format(new Date());
  const from = new Date(`${today}T00:00:00Z`);
  from.setUTCDate(from.getUTCDate() - (days - 1));
  return { date_from: from.toISOString().slice(0, 10), date_to: today, tz: timeZone };
}

/** The page asked the API for this path with these parameters (what it shows is that answer). */
async function expectAsked(path: string, params: Record<string, string | number>) {
  const matches = () =>
    asked.some(
      (url) =>
        url.pathname === path &&
        Object.entries(params).every(([k, v]) => url.searchParams.get(k) === String(v)),
    );
  await expect
    .poll(matches, {
      ...SLOW_POLL,
      message: `${path} ${JSON.stringify(params)} in ${asked.map((u) => u.pathname + u.search).join("\n")}`,
    })
    .toBe(true);
}

// Reading figures back: the page formats for people (en-US here), the test parses the text.
const clean = (text: string | null) => (text ?? "").replace(/\s+/g, " ").trim();
function parseCount(text: string | null): number | null {
  const t = clean(text);
  return t === "—" ? null : Number(t.replace(/,/g, ""));
}
function parseMoney(text: string | null): number | null {
  const t = clean(text);
  return t === "—" ? null : Math.round(Number(t.replace(/[$,]/g, "")) * 100);
}
function parsePercent(text: string | null): number | null {
  const t = clean(text);
  return t === "—" ? null : Number(t.replace(/[%,+]/g, "").replace("−", "-")) / 100;
}
function parseDuration(text: string | null): number | null {
  const t = clean(text);
  if (t === "—") return null;
  const unit = (name: string) => Number(new RegExp(`(\\d+) ${name}\\b`).exec(t)?.[1] ?? 0);
  return unit("h") * 3600 + unit("min") * 60 + unit("s");
}
type Kind = "count" | "money" | "percent" | "duration";
const parsers: Record<Kind, (text: string | null) => number | null> = {
  count: parseCount,
  money: parseMoney,
  percent: parsePercent,
  duration: parseDuration,
};

function expectFigure(shown: string | null, kind: Kind, expected: number | null, what: string) {
  const value = parsers[kind](shown);
  if (expected === null) return expect(value, what).toBeNull();
  // Percentages are shown to two decimals of a percent: the API's rates have four decimals.
  if (kind === "percent") return expect(value, `${what}: ${shown}`).toBeCloseTo(expected, 6);
  expect(value, `${what}: ${shown}`).toBe(expected);
}

async function expectFigures(scope: Locator, fields: [string, Kind, number | null][]) {
  for (const [field, kind, expected] of fields) {
    expectFigure(await scope.locator(`dd[data-field="${field}"]`).textContent(), kind, expected, field);
  }
}

/** A table's rows against the API's rows, column by column (cells name the field they show). */
async function expectTable<Row extends Record<string, unknown>>(
  scope: Locator,
  name: string,
  rows: Row[],
  columns: [keyof Row & string, Kind][],
) {
  const table = scope.locator(`table[data-table="${name}"]`).first();
  const shown = table.locator("tbody tr");
  expect(await shown.count(), name).toBe(rows.length);
  for (const [i, row] of rows.entries()) {
    for (const [field, kind] of columns) {
      const text = await shown.nth(i).locator(`[data-field="${field}"]`).textContent();
      expectFigure(text, kind, row[field] as number | null, `${name}[${i}].${field}`);
    }
  }
}

/** Follows a view's link as the user does (the picked funnel, period and zone stay), and waits for it. */
async function openView(hash: string, view: string): Promise<Locator> {
  // Scripts run in the page are strings: this package's types know no DOM.
  await page.evaluate(`location.hash = ${JSON.stringify(`#/${hash}`)}`);
  const scope = page.locator(`[data-view="${view}"]`);
  await scope.waitFor();
  await expect.poll(() => page.locator(".notice.loading").count(), SLOW_POLL).toBe(0);
  return scope;
}

async function screenshot(name: string) {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  mkdirSync(screenshots, { recursive: true });
  api = await startApi({ DATA_DIR: dataDir, REPORT_CACHE_SECONDS: "0" }, { readyTimeoutMs: 300_000 });
  apiKey = await waitFor("the demo key", async () => {
    const line = lastLine(api.output());
    return line.startsWith("fa_live_") ? line : undefined;
  });
  // The demo's events are queued at start: wait until the worker has written them all and the
  // figures stop moving, so the page and the test read the same stored data.
  await waitFor("the demo events written", async () => {
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    return /^funnel_ingest_queue_depth 0$/m.test(metrics) ? true : undefined;
  });
  // Rollups are derived from the stored events in the background: the figures are settled once
  // they stay the same for several seconds (the deriver is not seen from outside the process).
  const { funnels } = await apiGet<{ funnels: { id: string }[] }>("/api/v1/funnels");
  const snapshots: string[] = [];
  await waitFor(
    "settled demo figures",
    async () => {
      await new Promise((r) => setTimeout(r, 2_000));
      const now = JSON.stringify(
        await Promise.all(
          funnels.map((f) => apiGet(`/api/v1/analytics/funnels/${f.id}/overview`, lastDays(DAYS, "UTC"))),
        ),
      );
      snapshots.push(now);
      const last = snapshots.slice(-3);
      return last.length === 3 && last.every((s) => s === now) ? true : undefined;
    },
    420_000,
  );

  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
    ],
  });
  const context = await browser.newContext({
    locale: "en-US",
    timezoneId: BROWSER_ZONE,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  // Offline: any request to another origin is refused and remembered.
  const origin = new URL(api.url).origin;
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("data:") || new URL(url).origin === origin) return route.continue();
    offOrigin.push(url);
    return route.abort("internetdisconnected");
  });
  page = await context.newPage();
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith("/api/")) asked.push(url);
  });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await api?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

type Step = { id: string; name: string; position: number };
type Funnel = { id: string; name: string; steps: Step[] };
let funnel: Funnel;
let range: { date_from: string; date_to: string; tz: string };
const report = <T>(path: string, extra: Record<string, string | number> = {}) =>
  apiGet<T>(`/api/v1/analytics/funnels/${funnel.id}/${path}`, { ...range, ...extra });

describe("the dashboard", () => {
  it("loads from the API alone, within 150 KB of JavaScript and CSS gzipped", async () => {
    const bodies: Promise<void>[] = [];
    const collect = (response: Response) => {
      const type = response.request().resourceType();
      if (!["document", "script", "stylesheet"].includes(type)) return;
      bodies.push(response.body().then((bytes) => void loaded.push({ url: response.url(), type, bytes })));
    };
    page.on("response", collect);
    await page.goto(`${api.url}/`);
    await page.locator("#api-key").waitFor();
    await page.waitForLoadState("networkidle");
    page.off("response", collect);
    await Promise.all(bodies);
    const scripts = loaded.filter((r) => r.type === "script").map((r) => new URL(r.url).pathname);
    expect(scripts).toEqual(expect.arrayContaining(["/dashboard/vendor/preact.mjs", "/dashboard/app.js"]));
    expect(loaded.some((r) => r.type === "stylesheet")).toBe(true);
    // Everything the first load fetched (the page, its scripts and styles), each gzipped.
    const gzipped = loaded.reduce((sum, r) => sum + gzipSync(r.bytes, { level: 9 }).length, 0);
    expect(gzipped).toBeGreaterThan(0);
    expect(gzipped).toBeLessThanOrEqual(BUDGET_BYTES);
    expect(offOrigin).toEqual([]);
    await screenshot("sign-in");
  });

  it("signs in with the key and keeps it in this tab's sessionStorage only", async () => {
    await page.fill("#api-key", "fa_live_not-a-key");
    await page.click("button[type=submit]");
    await expect
      .poll(() => page.locator("[role=alert]").first().textContent(), SLOW_POLL)
      .toContain("refused this key");

    await page.fill("#api-key", apiKey);
    await page.click("button[type=submit]");
    await page.locator('[data-view="overview"]').waitFor();
    const stored = await page.evaluate<{ session: string[]; local: number; cookie: string }>(
      "({ session: Object.values(sessionStorage), local: localStorage.length, cookie: document.cookie })",
    );
    expect(stored.session).toContain(apiKey);
    expect(stored.local).toBe(0);
    expect(stored.cookie).toBe("");

    const funnels = await apiGet<{ funnels: Funnel[] }>("/api/v1/funnels");
    const options = await page.locator('select[name="funnel"] option').allTextContents();
    expect(options).toEqual(funnels.funnels.map((f) => f.name));
    funnel = funnels.funnels.find((f) => f.steps.length > 3) ?? (funnels.funnels[0] as Funnel);
    await page.selectOption('select[name="funnel"]', funnel.id);

    // The browser's zone and the last 30 days at first; then the zone picked is the one sent.
    expect(await page.locator('select[name="tz"]').inputValue()).toBe(BROWSER_ZONE);
    await expectAsked(
      `/api/v1/analytics/funnels/${funnels.funnels[0]?.id}/overview`,
      lastDays(DAYS, BROWSER_ZONE),
    );
    await page.selectOption('select[name="tz"]', ZONE);
    range = lastDays(DAYS, ZONE);
  });

  it("shows the overview's figures, funnel chart, step table and over-time chart as the API does", async () => {
    const view = await openView("overview", "overview");
    const overview = await report<{
      visitors: Record<string, number>;
      conversions: Record<string, number>;
      revenue: Record<string, number>;
      steps: Record<string, number | string>[];
      data_through: string | null;
    }>("overview");
    await expectAsked(`/api/v1/analytics/funnels/${funnel.id}/overview`, range);
    expect(overview.visitors.total).toBeGreaterThan(0);
    await expectFigures(view, [
      ["visitors.unique", "count", overview.visitors.unique ?? null],
      ["visitors.total", "count", overview.visitors.total ?? null],
      ["visitors.new", "count", overview.visitors.new ?? null],
      ["visitors.returning", "count", overview.visitors.returning ?? null],
      ["conversions.total", "count", overview.conversions.total ?? null],
      ["conversions.rate", "percent", overview.conversions.rate ?? null],
      ["revenue.total_cents", "money", overview.revenue.total_cents ?? null],
      ["revenue.per_visitor_cents", "money", overview.revenue.per_visitor_cents ?? null],
      ["revenue.per_conversion_cents", "money", overview.revenue.per_conversion_cents ?? null],
    ]);
    // How fresh the figures are: the report's data_through, as a date-time in the chosen zone.
    expect(overview.data_through).not.toBeNull();
    expect(await view.locator('time[data-field="data_through"]').getAttribute("datetime")).toBe(
      overview.data_through,
    );
    await expectTable(view, "funnel", overview.steps, [["visitors", "count"]]);
    await expectTable(view, "steps", overview.steps, [
      ["visitors", "count"],
      ["entries", "count"],
      ["exits", "count"],
      ["drop_offs", "count"],
      ["drop_off_rate", "percent"],
      ["avg_time_seconds", "duration"],
      ["conversion_rate", "percent"],
    ]);
    const trend = await report<{ over_time: Record<string, number>[] }>("conversions", {
      granularity: "day",
      page_size: 1,
    });
    expect(trend.over_time.length).toBeGreaterThan(DAYS - 2);
    await expectTable(view, "over-time", trend.over_time, [
      ["conversions", "count"],
      ["value_cents", "money"],
    ]);
    // The chart was drawn (a canvas), and its figures are a table a screen reader reaches.
    expect(await view.locator(".uplot-host canvas").count()).toBeGreaterThan(0);
    expect(await view.locator("details table").count()).toBe(2);
    await screenshot("overview");
  });

  it("opens a step from the step table and shows its detail as the API does", async () => {
    const step = [...funnel.steps].sort((a, b) => a.position - b.position)[1] as Step;
    await page.locator(`[data-table="steps"] a[href="#/steps/${step.id}"]`).click();
    const view = page.locator('[data-view="step"]');
    await view.locator('dd[data-field="summary.visitors"]').waitFor();
    const detail = await report<{
      summary: Record<string, number>;
      over_time: Record<string, number>[];
      devices: Record<string, number>[];
      browsers: Record<string, number>[];
      traffic_sources: Record<string, number>[];
      entry_paths: { previous_step_id: string | null; count: number }[];
      exit_paths: { next_step_id: string | null; count: number }[];
    }>(`steps/${step.id}`, { granularity: "day" });
    await expectAsked(`/api/v1/analytics/funnels/${funnel.id}/steps/${step.id}`, {
      ...range,
      granularity: "day",
    });
    const s = detail.summary;
    await expectFigures(view, [
      ["summary.visitors", "count", s.visitors ?? null],
      ["summary.unique_visitors", "count", s.unique_visitors ?? null],
      ["summary.entries", "count", s.entries ?? null],
      ["summary.exits", "count", s.exits ?? null],
      ["summary.drop_offs", "count", s.drop_offs ?? null],
      ["summary.drop_off_rate", "percent", s.drop_off_rate ?? null],
      ["summary.avg_time_seconds", "duration", s.avg_time_seconds ?? null],
      ["summary.median_time_seconds", "duration", s.median_time_seconds ?? null],
      ["summary.conversion_rate", "percent", s.conversion_rate ?? null],
    ]);
    const shares: [string, Kind][] = [
      ["visitors", "count"],
      ["percentage", "percent"],
    ];
    await expectTable(view, "devices", detail.devices, shares);
    await expectTable(view, "browsers", detail.browsers, shares);
    await expectTable(view, "sources", detail.traffic_sources, shares);
    await expectTable(view, "entry-paths", detail.entry_paths, [["count", "count"]]);
    await expectTable(view, "exit-paths", detail.exit_paths, [["count", "count"]]);
    await expectTable(view, "step-over-time", detail.over_time, [
      ["visitors", "count"],
      ["entries", "count"],
    ]);
    // Paths name steps, or say the visitor came straight in or left the funnel.
    const names = await view.locator('[data-table="exit-paths"] tbody th').allTextContents();
    for (const [i, path] of detail.exit_paths.entries()) {
      const next = funnel.steps.find((f) => f.id === path.next_step_id);
      expect(names[i]).toBe(next ? next.name : "Left the funnel");
    }
    await screenshot("step");
  });

  it("shows drop-offs with their severity, exit reasons and suggestions", async () => {
    const view = await openView("dropoffs", "dropoffs");
    const dropoffs = await report<{
      overall_drop_off_rate: number;
      steps_with_drop_off: {
        step_id: string;
        drop_offs: number;
        drop_off_rate: number;
        severity: string;
        suggestions: string[];
        common_exit_reasons: Record<string, number>[];
      }[];
      drop_off_funnel: Record<string, number>[];
    }>("dropoffs");
    await expectFigures(view, [["overall_drop_off_rate", "percent", dropoffs.overall_drop_off_rate]]);
    await expectTable(view, "drop-off-funnel", dropoffs.drop_off_funnel, [
      ["visitors", "count"],
      ["drop_offs", "count"],
      ["cumulative_drop_off_rate", "percent"],
    ]);
    expect(dropoffs.steps_with_drop_off.length).toBeGreaterThan(0);
    for (const step of dropoffs.steps_with_drop_off) {
      const card = view.locator(`section[data-step="${step.step_id}"]`);
      expect(clean(await card.locator('[data-field="severity"]').textContent()).toLowerCase()).toBe(
        `${step.severity} severity`,
      );
      await expectFigures(card, [
        ["drop_offs", "count", step.drop_offs],
        ["drop_off_rate", "percent", step.drop_off_rate],
      ]);
      await expectTable(card, "exit-reasons", step.common_exit_reasons, [
        ["count", "count"],
        ["percentage", "percent"],
      ]);
      const suggestions = await card.locator(".suggestions li").allTextContents();
      expect(suggestions).toEqual(step.suggestions);
    }
    await screenshot("dropoffs");
  });

  it("pages through the converting visitors and opens a visitor's journey", async () => {
    const view = await openView("conversions", "conversions");
    const pageOf = (n: number) =>
      report<{
        summary: Record<string, number>;
        by_type: Record<string, number>[];
        by_step: Record<string, number>[];
        over_time: Record<string, number>[];
        converting_visitors: Record<string, number | string>[];
        pagination: { page: number; page_size: number; total: number };
      }>("conversions", { granularity: "day", page: n, page_size: 25 });
    const first = await pageOf(1);
    await expectFigures(view, [
      ["summary.total_conversions", "count", first.summary.total_conversions ?? null],
      ["summary.conversion_rate", "percent", first.summary.conversion_rate ?? null],
      ["summary.total_value_cents", "money", first.summary.total_value_cents ?? null],
      ["summary.avg_value_cents", "money", first.summary.avg_value_cents ?? null],
    ]);
    await expectTable(view, "by-type", first.by_type, [
      ["count", "count"],
      ["rate", "percent"],
      ["value_cents", "money"],
    ]);
    await expectTable(view, "by-step", first.by_step, [
      ["conversions", "count"],
      ["conversion_rate", "percent"],
    ]);
    await expectTable(view, "conversions-over-time", first.over_time, [
      ["conversions", "count"],
      ["value_cents", "money"],
    ]);
    const visitors = (p: typeof first) => p.converting_visitors.map((v) => v.visitor_id);
    const shownIds = () => view.locator('[data-table="converting-visitors"] tbody th').allTextContents();
    expect(await shownIds()).toEqual(visitors(first));
    await expectTable(view, "converting-visitors", first.converting_visitors, [
      ["conversions", "count"],
      ["total_value_cents", "money"],
    ]);
    expect(first.pagination.total).toBeGreaterThan(25);

    await view.getByRole("button", { name: "Next page" }).click();
    const second = await pageOf(2);
    await expect.poll(shownIds, SLOW_POLL).toEqual(visitors(second));
    await expectAsked(`/api/v1/analytics/funnels/${funnel.id}/conversions`, {
      ...range,
      page: 2,
      page_size: 25,
    });
    await screenshot("conversions");

    const visitorId = String(second.converting_visitors[0]?.visitor_id);
    await view.locator(`a[href="#/visitor/${visitorId}"]`).click();
    const journeyView = page.locator('[data-view="journey"]');
    await journeyView.locator('dd[data-field="total_events"]').waitFor();
    const journey = await apiGet<{
      total_sessions: number;
      total_page_views: number;
      total_conversions: number;
      total_events: number;
      sessions: { session_id: string; events: unknown[] }[];
    }>(`/api/v1/analytics/visitors/${visitorId}/journey`, { funnel_id: funnel.id, limit: 200 });
    await expectFigures(journeyView, [
      ["total_sessions", "count", journey.total_sessions],
      ["total_page_views", "count", journey.total_page_views],
      ["total_conversions", "count", journey.total_conversions],
      ["total_events", "count", journey.total_events],
    ]);
    for (const session of journey.sessions) {
      const rows = journeyView.locator(`section[data-session="${session.session_id}"] tbody tr`);
      expect(await rows.count()).toBe(session.events.length);
    }
    await screenshot("journey");
  });

  it("shows revenue over time, by source and step, top products, refunds and net", async () => {
    const view = await openView("revenue", "revenue");
    const revenue = await report<{
      summary: Record<string, number>;
      by_source: Record<string, number>[];
      by_step: Record<string, number>[];
      over_time: Record<string, number>[];
      top_products: Record<string, number>[];
    }>("revenue", { granularity: "day" });
    expect(revenue.summary.total_revenue_cents).toBeGreaterThan(0);
    await expectFigures(view, [
      ["summary.total_revenue_cents", "money", revenue.summary.total_revenue_cents ?? null],
      ["summary.net_revenue_cents", "money", revenue.summary.net_revenue_cents ?? null],
      ["summary.refund_rate", "percent", revenue.summary.refund_rate ?? null],
      ["summary.revenue_per_visitor_cents", "money", revenue.summary.revenue_per_visitor_cents ?? null],
      ["summary.revenue_per_conversion_cents", "money", revenue.summary.revenue_per_conversion_cents ?? null],
    ]);
    await expectTable(view, "revenue-over-time", revenue.over_time, [
      ["revenue_cents", "money"],
      ["orders", "count"],
    ]);
    await expectTable(view, "by-source", revenue.by_source, [
      ["revenue_cents", "money"],
      ["percentage", "percent"],
    ]);
    await expectTable(view, "top-products", revenue.top_products, [
      ["revenue_cents", "money"],
      ["units_sold", "count"],
    ]);
    await expectTable(view, "revenue-by-step", revenue.by_step, [
      ["revenue_cents", "money"],
      ["orders", "count"],
      ["avg_order_value_cents", "money"],
    ]);
    await screenshot("revenue");
  });

  it("shows each A/B test's variants, confidence, improvement, winner and sample-ratio check", async () => {
    const view = await openView("ab-tests", "ab-tests");
    const results = await report<{
      tests: {
        test_id: string;
        variants: Record<string, number | string | null>[];
        winner: { variant_id: string; reason: string } | null;
        conclusion?: string;
        sample_ratio_mismatch: { detected: boolean } | null;
      }[];
    }>("ab-tests");
    expect(results.tests.length).toBeGreaterThan(0);
    for (const test of results.tests) {
      const card = view.locator(`section[data-test="${test.test_id}"]`);
      await expectTable(card, "variants", test.variants, [
        ["visitors", "count"],
        ["conversions", "count"],
        ["conversion_rate", "percent"],
        ["improvement_vs_control", "percent"],
        ["confidence", "percent"],
        ["revenue_cents", "money"],
        ["avg_revenue_per_visitor_cents", "money"],
      ]);
      const verdict = clean(await card.locator('[data-field="winner"]').textContent());
      if (test.winner) {
        const winner = test.variants.find((v) => v.variant_id === test.winner?.variant_id);
        expect(verdict).toContain(`Winner: ${winner?.variant_name}`);
        expect(verdict).toContain(clean(test.winner.reason));
      } else {
        expect(verdict).toContain("No winner yet");
      }
      const ratio = clean(await card.locator('[data-field="sample_ratio_mismatch"]').textContent());
      expect(ratio).toContain(
        test.sample_ratio_mismatch?.detected ? "Sample ratio mismatch" : "as configured",
      );
    }
    await screenshot("ab-tests");
  });

  it("refreshes the real-time view every 5 seconds and shows the API's answer", async () => {
    const realtimePath = `/api/v1/analytics/funnels/${funnel.id}/realtime`;
    const answers: { timestamp: string; body: Record<string, unknown> }[] = [];
    const listener = async (response: Response) => {
      if (new URL(response.url()).pathname !== realtimePath) return;
      const body = (await response.json()) as { timestamp: string };
      answers.push({ timestamp: body.timestamp, body });
    };
    page.on("response", listener);
    const view = await openView("realtime", "realtime");
    const started = Date.now();
    await expect.poll(() => answers.length, SLOW_POLL).toBeGreaterThanOrEqual(3);
    page.off("response", listener);
    // Three answers: the first at once, then one every 5 seconds.
    expect(Date.now() - started).toBeGreaterThanOrEqual(9_000);
    // What the page shows is the last answer it got: wait until it is drawn, then compare.
    const last = answers.at(-1) as (typeof answers)[number];
    await expect
      .poll(() => view.locator('p[data-field="timestamp"]').getAttribute("data-timestamp"), SLOW_POLL)
      .toBe(last.timestamp);
    const shown = last.body as {
      active_visitors: { total: number; by_step: Record<string, number>[] };
      conversions_last_5min: { count: number; value_cents: number };
    };
    await expectFigures(view, [
      ["active_visitors.total", "count", shown.active_visitors.total],
      ["conversions_last_5min.count", "count", shown.conversions_last_5min.count],
      ["conversions_last_5min.value_cents", "money", shown.conversions_last_5min.value_cents],
    ]);
    await expectTable(view, "active-by-step", shown.active_visitors.by_step, [["visitors", "count"]]);
    const direct = await apiGet<{ active_visitors: { by_step: { step_id: string }[] } }>(realtimePath);
    expect(direct.active_visitors.by_step.map((s) => s.step_id)).toEqual(
      shown.active_visitors.by_step.map((s) => s.step_id),
    );
    await screenshot("realtime");
  });

  it("exports a CSV, follows its status and downloads it", async () => {
    const view = await openView("export", "export");
    await view.getByRole("button", { name: "Export CSV" }).click();
    const link = view.getByRole("link", { name: "Download CSV" });
    await link.waitFor({ timeout: 60_000 });
    expect(await view.locator("[data-status]").getAttribute("data-status")).toBe("completed");
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    const csv = readFileSync(await download.path(), "utf8");
    const overview = await report<{ visitors: { unique: number } }>("overview");
    expect(csv.length).toBeGreaterThan(0);
    expect(csv).toContain(String(overview.visitors.unique));
    expect(asked.some((u) => u.pathname === "/api/v1/analytics/export")).toBe(true);
    await screenshot("export");
  });

  it("asks for the preset periods, and says so when a period has no visitors", async () => {
    await openView("overview", "overview");
    await page.getByRole("button", { name: "Last 7 days" }).click();
    await page.locator('[data-view="overview"] dd[data-field="visitors.total"]').waitFor();
    await expectAsked(`/api/v1/analytics/funnels/${funnel.id}/overview`, lastDays(7, ZONE));
    await page.fill('input[name="date_from"]', "2020-01-01");
    await page.fill('input[name="date_to"]', "2020-01-07");
    await page.getByRole("button", { name: "Apply dates" }).click();
    const view = page.locator('[data-view="overview"]');
    await expect
      .poll(() => view.locator(".notice.empty").textContent(), SLOW_POLL)
      .toContain("No visitors in this period");
    await expectAsked(`/api/v1/analytics/funnels/${funnel.id}/overview`, {
      date_from: "2020-01-01",
      date_to: "2020-01-07",
      tz: ZONE,
    });
    expect(parseCount(await view.locator('dd[data-field="visitors.total"]').textContent())).toBe(0);
    await screenshot("empty-period");
  });

  it("is usable from the keyboard, with the focus visible", async () => {
    await openView("overview", "overview");
    const revenueLink = page.locator('nav[aria-label="Reports"] a[href="#/revenue"]');
    // Tab through the page until the Revenue link has the focus, then follow it with Enter.
    const focused = () =>
      page.evaluate<string | null>("document.activeElement?.getAttribute('href') ?? null");
    for (let i = 0; i < 40 && (await focused()) !== "#/revenue"; i += 1) await page.keyboard.press("Tab");
    expect(await focused()).toBe("#/revenue");
    expect(await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")).toBe("solid");
    await page.keyboard.press("Enter");
    await page.locator('[data-view="revenue"]').waitFor();
    expect(await revenueLink.getAttribute("aria-current")).toBe("page");
  });

  it("says a revoked key was refused, and asks for a key again", async () => {
    const accountId = crypto.randomUUID();
    const key = await keys("create", [accountId, "--name", "dashboard"]);
    expect(key).toMatch(/^fa_live_/);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.fill("#api-key", key);
    await page.click("button[type=submit]");
    // A new account: no funnel yet, and the page says how to add one.
    await expect
      .poll(() => page.locator("main .notice.empty").textContent(), SLOW_POLL)
      .toContain("no funnel yet");
    await keys("revoke", [accountId, key]);
    await page.reload();
    await expect
      .poll(() => page.locator("[role=alert]").first().textContent(), SLOW_POLL)
      .toContain("The API refused this key: it was revoked");
    expect(await page.evaluate<string[]>("Object.values(sessionStorage)")).not.toContain(key);
    await page.locator("#api-key").waitFor();
    expect(await page.getByText("Loading the dashboard").count()).toBe(0);
    await screenshot("revoked-key");

    await page.fill("#api-key", apiKey);
    await page.click("button[type=submit]");
    await page.locator('[data-view="revenue"]').waitFor();
    // The zone picked before the reload is still the one in use.
    expect(await page.locator('select[name="tz"]').inputValue()).toBe(ZONE);
  }, 240_000);

  it("says the server is not answering when it is down", async () => {
    await openView("overview", "overview");
    expect(await api.stop("SIGTERM")).toBe(0);
    await page.getByRole("button", { name: "Last 7 days" }).click();
    const alert = page.locator("[data-view=overview] [role=alert]").first();
    await expect.poll(() => alert.textContent(), SLOW_POLL).toContain("The server did not answer");
    expect(await alert.getByRole("button", { name: "Try again" }).count()).toBe(1);
    await screenshot("server-down");
    expect(offOrigin).toEqual([]);
  }, 60_000);
});
