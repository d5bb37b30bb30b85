/**
 * /docs with no internet: headless Chromium opens the real API process's reference with every
 * request to another origin aborted, and the reference still renders the API's routes, with
 * examples that name the API's own host. It asks nothing of another origin at all (no CDN
 * script, no web fonts, no telemetry): every such request is recorded, and there are none.
 */
import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase, testServices } from "@funnel/db/testing";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiProcess, startApi } from "../support/api-process";

// The reference is a 5 MB script that renders a large document; a loaded shared machine is slow at it.
const RENDER_MS = 90_000;

let database: TestDatabase;
let api: ApiProcess;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Every URL the page asked for that is not on the API's origin (each one aborted). */
const offOrigin: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  api = await startApi({
    DATABASE_URL: database.url,
    REDIS_URL: testServices().redisUrl,
    QUEUE_PREFIX: `e2e-docs-${randomUUID()}`,
  });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  // As on a machine with no internet: the API's origin answers, nothing else does.
  const origin = new URL(api.url).origin;
  context = await browser.newContext();
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("data:") || url.startsWith("blob:") || new URL(url).origin === origin) {
      return route.continue();
    }
    offOrigin.push(url);
    return route.abort("internetdisconnected");
  });
  page = await context.newPage();
  await page.goto(`${api.url}/docs`, { timeout: RENDER_MS });
}, 240_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await api?.stop();
  await database?.drop();
});

// biome-ignore lint/performance/useDomNodeTextContent: what the reader sees, not text hidden in the DOM
const pageText = () => page.locator("body").innerText();

describe("/docs without internet", () => {
  it("renders the reference of the API's routes", async () => {
    await expect.poll(pageText, { timeout: RENDER_MS }).toContain("/api/v1/analytics/track");
    expect(await pageText()).toContain("Funnel Analytics API");
    // A closed group lists its operations once opened.
    await page.getByText("Catalog", { exact: true }).first().click();
    await expect.poll(pageText, { timeout: RENDER_MS }).toContain("/api/v1/funnels");
  }, 180_000);

  it("shows example requests against the host the page was opened on", async () => {
    await expect.poll(pageText, { timeout: RENDER_MS }).toContain(`${api.url}/api/v1/`);
  }, 120_000);

  it("asked nothing of another origin: no CDN, no fonts, no telemetry", () => {
    expect(offOrigin).toEqual([]);
  });
});
