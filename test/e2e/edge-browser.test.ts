/**
 * The whole tracking path in a real browser: headless Chromium (Debian's, driven by playwright-core)
 * opens a demo funnel page that loads t.js from the edge worker under `wrangler dev`; the visitor
 * clicks through two steps and buys; the edge validates, limits, enriches, queues and forwards signed
 * batches to the real API process, whose worker stores them in TimescaleDB.
 * The API's reports then count that visitor, those steps and that conversion.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { createTestDatabase, type TestDatabase, testServices } from "@funnel/db/testing";
import { springSale } from "@funnel/fixtures";
import { type Browser, chromium } from "playwright-core";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiProcess, startApi } from "../support/api-process";
import { type DemoSite, serveDemoFunnel } from "../support/demo-pages";
import { type EdgeProcess, startEdge } from "../support/edge-process";
import { repoRoot } from "../support/services";

const SECRET = randomUUID() + randomUUID();
const USER_AGENT =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const [landing, sales] = springSale.steps;

let database: TestDatabase;
let sql: postgres.Sql;
let api: ApiProcess;
let edge: EdgeProcess;
let site: DemoSite;
let browser: Browser;
let apiEnv: Record<string, string>;
let apiKey: string;

beforeAll(async () => {
  database = await createTestDatabase();
  sql = postgres(database.url, { max: 2, onnotice: () => {} });
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL: testServices().redisUrl,
    QUEUE_PREFIX: `e2e-edge-${randomUUID()}`,
    EDGE_SIGNING_SECRET: SECRET,
  };
  const out = execFileSync(
    resolve(repoRoot, "node_modules/.bin/tsx"),
    ["api/src/cli/keys-create.ts", randomUUID()],
    { cwd: repoRoot, env: { PATH: process.env.PATH ?? "", ...env }, encoding: "utf8" },
  );
  const key = out.trim().split("\n").pop() ?? "";
  apiKey = key;
  apiEnv = { ...env, REPORT_CACHE_SECONDS: "0" };
  api = await startApi(apiEnv);
  const catalog = await fetch(`${api.url}/api/v1/funnels/${springSale.id}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ name: springSale.name, steps: springSale.steps, pages: springSale.pages }),
  });
  expect(catalog.status).toBe(200);
  edge = await startEdge({ API_URL: api.url, EDGE_SIGNING_SECRET: SECRET, FORWARD_RETRY_BASE_SECONDS: "1" });
  site = await serveDemoFunnel(springSale, edge.url);
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Headless Chromium says "HeadlessChrome", which the edge rightly flags as a bot; and
      // keepalive/beacon requests ignore a per-context override, so the whole browser gets one.
      `--user-agent=${USER_AGENT}`,
    ],
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await edge?.stop();
  await api?.stop();
  await sql?.end();
  await database?.drop();
});

interface StoredEvent {
  event_type: string;
  page_id: string | null;
  funnel_step_id: string | null;
  previous_step_id: string | null;
  next_step_id: string | null;
  exit_outcome: string | null;
  conversion_type: string | null;
  value_cents: number | null;
  order_id: string | null;
  session_id: string;
  device_type: string | null;
  browser: string | null;
  os: string | null;
  is_bot: boolean;
  ip_address: string | null;
  url: string | null;
  referrer: string | null;
  utm_source: string | null;
  utm_medium: string | null;
  utm_campaign: string | null;
  metadata: Record<string, unknown>;
}

async function eventsOf(visitorId: string): Promise<StoredEvent[]> {
  return sql<StoredEvent[]>`
    select event_type, page_id, funnel_step_id, previous_step_id, next_step_id, exit_outcome,
           conversion_type, value_cents, order_id, session_id, device_type, browser, os, is_bot,
           host(ip_address) as ip_address, url, referrer,
           utm_source, utm_medium, utm_campaign, metadata
    from analytics_events where visitor_id = ${visitorId} order by created_at, event_type`;
}

describe("a visitor in Chromium, tracked through the edge", () => {
  it("is stored with both steps, their exits and the conversion", async () => {
    const context = await browser.newContext({ userAgent: USER_AGENT });
    const page = await context.newPage();
    const landingUrl = `${site.url}${site.paths.first}?utm_source=newsletter&utm_medium=email&utm_campaign=spring`;
    await page.goto(landingUrl);
    await page.click("#next");
    await page.waitForURL(`${site.url}${site.paths.second}`);
    await page.click("#buy");
    await page.waitForURL(`${site.url}${site.paths.thanks}`);
    const cookies = await context.cookies(site.url);
    const visitorId = cookies.find((c) => c.name === "fa_vid")?.value ?? "";
    const sessionId = cookies.find((c) => c.name === "fa_sid")?.value ?? "";
    expect(visitorId).toMatch(/^[0-9a-f-]{36}$/);
    await context.close();

    // t.js flushes within a second, the edge's queue within another, then the API's worker writes.
    const deadline = Date.now() + 60_000;
    let events = await eventsOf(visitorId);
    while (events.length < 7 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      events = await eventsOf(visitorId);
    }
    const summary = events.map((e) => [e.event_type, e.page_id ?? e.funnel_step_id]);
    expect(summary.sort()).toEqual(
      [
        ["conversion", null],
        ["page_view", landing?.page_id],
        ["page_view", sales?.page_id],
        ["step_entry", landing?.id],
        ["step_entry", sales?.id],
        ["step_exit", landing?.id],
        ["step_exit", sales?.id],
      ].sort(),
    );
    const find = (type: string, step?: string) =>
      events.find((e) => e.event_type === type && (step === undefined || e.funnel_step_id === step));
    const views = events.filter((e) => e.event_type === "page_view");
    expect(views.find((e) => e.page_id === landing?.page_id)).toMatchObject({
      url: landingUrl,
      utm_source: "newsletter",
      utm_medium: "email",
      utm_campaign: "spring",
    });
    expect(views.find((e) => e.page_id === sales?.page_id)).toMatchObject({
      url: `${site.url}${site.paths.second}`,
      referrer: landingUrl,
    });
    expect(find("step_exit", landing?.id)).toMatchObject({
      exit_outcome: "forward",
      next_step_id: sales?.id,
    });
    expect(find("step_entry", sales?.id)).toMatchObject({ previous_step_id: landing?.id });
    expect(find("step_exit", sales?.id)).toMatchObject({ exit_outcome: "forward" });
    expect(find("conversion")).toMatchObject({
      conversion_type: "purchase",
      value_cents: 4900,
      order_id: "order-e2e-1",
      metadata: {
        products: [{ product_id: "sku-1", product_name: "Spring bundle", quantity: 1, price_cents: 4900 }],
      },
    });
    for (const event of events) {
      expect(event).toMatchObject({
        session_id: sessionId,
        device_type: "desktop",
        browser: "Chrome",
        os: "Linux",
        is_bot: false,
        ip_address: "127.0.0.0",
      });
    }

    // The reports, read from TimescaleDB's rollups, count this visitor, both steps and the purchase,
    // once the worker's deriver has derived its stored events.
    const derivedBy = Date.now() + 60_000;
    while ((await sql`select 1 from rollup_backlog where visitor_id = ${visitorId} limit 1`).length > 0) {
      if (Date.now() > derivedBy) throw new Error("the visitor's events were not derived within 60 s");
      await new Promise((r) => setTimeout(r, 200));
    }
    const day = 86_400_000;
    const query = new URLSearchParams({
      date_from: new Date(Date.now() - day).toISOString().slice(0, 10),
      date_to: new Date(Date.now() + day).toISOString().slice(0, 10),
    });
    const report = async <T>(path: string): Promise<T> => {
      const response = await fetch(`${api.url}/api/v1/analytics/funnels/${springSale.id}/${path}?${query}`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      expect(response.status).toBe(200);
      return (await response.json()) as T;
    };
    const overview = await report<{
      visitors: { unique: number; total: number; new: number };
      conversions: { total: number; rate: number; value_cents: number };
      steps: { step_id: string; visitors: number; entries: number; exits: number; drop_offs: number }[];
    }>("overview");
    expect(overview.visitors).toMatchObject({ unique: 1, total: 1, new: 1 });
    expect(overview.conversions).toEqual({ total: 1, rate: 1, value_cents: 4900 });
    for (const step of [landing, sales]) {
      expect(overview.steps.find((s) => s.step_id === step?.id)).toMatchObject({
        visitors: 1,
        entries: 1,
        exits: 1,
        drop_offs: 0,
      });
    }
    const revenue = await report<{ by_source: unknown[]; top_products: unknown[] }>("revenue");
    expect(revenue.by_source).toEqual([{ source: "newsletter", revenue_cents: 4900, percentage: 1 }]);
    expect(revenue.top_products).toEqual([
      { product_id: "sku-1", product_name: "Spring bundle", revenue_cents: 4900, units_sold: 1 },
    ]);
  });

  it("retries a batch the edge did not take, and the event is stored once", async () => {
    const context = await browser.newContext();
    let refused = 0;
    let posts = 0;
    await context.route(`${edge.url}/api/v1/analytics/track`, async (route) => {
      posts += 1;
      if (refused === 0) {
        refused += 1;
        await route.fulfill({ status: 503, headers: { "retry-after": "1" }, body: "{}" });
        return;
      }
      await route.continue();
    });
    const page = await context.newPage();
    await page.goto(`${site.url}${site.paths.first}`);
    const visitorId = (await context.cookies(site.url)).find((c) => c.name === "fa_vid")?.value ?? "";
    const deadline = Date.now() + 30_000;
    let stored = await eventsOf(visitorId);
    while (stored.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      stored = await eventsOf(visitorId);
    }
    await context.close();
    expect(refused).toBe(1);
    expect(posts).toBeGreaterThanOrEqual(2);
    // The page_view and the step_entry of the refused batch, each once.
    expect(stored.map((e) => e.event_type).sort()).toEqual(["page_view", "step_entry"]);
  });

  it("forgets the visitor when consent is withdrawn, and stops tracking", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${site.url}${site.paths.first}`);
    expect((await context.cookies(site.url)).map((c) => c.name)).toContain("fa_vid");
    await page.evaluate("funnel.consent(false)");
    await page.reload();
    const names = (await context.cookies(site.url)).map((c) => c.name);
    expect(names).not.toContain("fa_vid");
    expect(names).not.toContain("fa_sid");
    expect(names).toContain("fa_optout");
    await context.close();
  });

  it("delivers the events it accepted while the API was down once the API is back", async () => {
    const port = new URL(api.url).port;
    expect(await api.stop("SIGTERM")).toBe(0);
    const visitorId = randomUUID();
    const events = Array.from({ length: 5 }, () => ({
      event_id: randomUUID(),
      event_type: "page_view",
      funnel_id: springSale.id,
      page_id: landing?.page_id,
      visitor_id: visitorId,
      session_id: "down-1",
    }));
    const res = await fetch(`${edge.url}/api/v1/analytics/track`, {
      method: "POST",
      headers: { "user-agent": USER_AGENT },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(202);
    // Long enough for the edge to fail a few deliveries with backoff.
    await new Promise((r) => setTimeout(r, 5_000));
    expect(edge.output()).toContain("forward failed, retrying");
    api = await startApi({ ...apiEnv, PORT: port });
    const deadline = Date.now() + 90_000;
    let stored = await eventsOf(visitorId);
    while (stored.length < events.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      stored = await eventsOf(visitorId);
    }
    expect(stored).toHaveLength(events.length);
  }, 150_000);

  it("serves a t.js under 3 KB gzipped", async () => {
    const res = await fetch(`${edge.url}/t.js`);
    const size = gzipSync(Buffer.from(await res.text()), { level: 9 }).length;
    expect(size).toBeLessThan(3 * 1024);
  });
});
