import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pdfText, type Raster, rasterisePages } from "../testing/exports";
import type { ExportDocument, Table } from "./document";
import {
  KEEP_TOGETHER_LINES,
  MIN_ROWS_PER_PAGE,
  pdfBytes,
  ROW_RULE_COLOUR,
  TABLE_HEADER_COLOUR,
} from "./render-pdf";

/**
 * How the PDF's tables fall on its pages, checked on the pages rendered with pdftoppm: each page
 * is read pixel row by pixel row for header rows (their fill) and table rows (the rule under
 * each). Every run of rows on a page sits under a header row; a table of at least
 * MIN_ROWS_PER_PAGE rows never has fewer on a page; a short table is never split; its title is on
 * the page with its header.
 */

const SCALE = 4;
/** Least length of a header fill or a row rule, in pixels: narrower than any table. */
const MIN_RUN = 60 * SCALE;

function table(title: string, rows: number): Table {
  return {
    title,
    columns: [
      { header: "Name", kind: "text" },
      { header: "Visitors", kind: "integer" },
      { header: "Conversion rate", kind: "rate" },
      { header: "Revenue", kind: "money" },
    ],
    rows: Array.from({ length: rows }, (_, i) => [`${title} row ${i + 1}`, 100 + i, i / 1000, 1_000 * i]),
  };
}

function document(sizes: number[], charts: boolean): ExportDocument {
  return {
    reportType: "revenue",
    title: "Revenue report",
    funnelName: "Layout funnel",
    period: { start: "2026-11-01T00:00:00.000Z", end: "2026-12-08T00:00:00.000Z", time_zone: "UTC" },
    granularity: "day",
    generatedAt: "2026-12-08T09:00:00.000Z",
    tables: sizes.map((n, i) => table(`Table ${i + 1}`, n)),
    charts: charts
      ? [
          {
            kind: "line",
            title: "Revenue over time",
            unit: "money",
            points: [1, 2, 3].map((v, i) => ({ label: `2026-11-0${i + 1}T00:00:00.000Z`, value: v * 1000 })),
          },
        ]
      : [],
  };
}

const isColour = (data: Uint8Array, i: number, c: { r: number; g: number; b: number }) =>
  Math.abs((data[i] ?? 0) - c.r) <= 10 &&
  Math.abs((data[i + 1] ?? 0) - c.g) <= 10 &&
  Math.abs((data[i + 2] ?? 0) - c.b) <= 10;

/** Top to bottom: "H" for a header row, "R" for a table row (its rule), as drawn on the page. */
function marks(page: Raster): ("H" | "R")[] {
  const found: ("H" | "R")[] = [];
  let previous: "H" | "R" | null = null;
  for (let y = 0; y < page.height; y++) {
    let header = 0;
    let rule = 0;
    for (let i = y * page.width * 4, end = i + page.width * 4; i < end; i += 4) {
      if (isColour(page.data, i, TABLE_HEADER_COLOUR)) header++;
      else if (isColour(page.data, i, ROW_RULE_COLOUR)) rule++;
    }
    const mark = header >= MIN_RUN ? "H" : rule >= MIN_RUN ? "R" : null;
    // A header fill is many pixel rows high, a rule one or two: each counts once.
    if (mark && mark !== previous) found.push(mark);
    previous = mark;
  }
  return found;
}

interface Run {
  page: number;
  rows: number;
}

/** The runs of rows under each header row, page by page; rows above any header fail the test. */
async function runsOf(bytes: Uint8Array): Promise<Run[]> {
  const runs: Run[] = [];
  for (const [i, page] of (await rasterisePages(bytes, SCALE)).entries()) {
    for (const mark of marks(page)) {
      const current = runs[runs.length - 1];
      if (mark === "H") runs.push({ page: i + 1, rows: 0 });
      else {
        expect(current?.page, `page ${i + 1}: a row with no header row above it`).toBe(i + 1);
        if (current) current.rows++;
      }
    }
  }
  return runs;
}

async function expectLaidOut(sizes: number[], charts: boolean): Promise<void> {
  const doc = document(sizes, charts);
  const bytes = await pdfBytes(doc);
  const runs = await runsOf(bytes);
  const pages = (await pdfText(bytes)).split("\f");
  let next = 0;
  for (const [t, size] of sizes.entries()) {
    const title = `Table ${t + 1}`;
    const own: Run[] = [];
    let rows = 0;
    while (rows < size) {
      const run = runs[next++];
      if (!run) throw new Error(`${title}: only ${rows} of its ${size} rows were found`);
      own.push(run);
      rows += run.rows;
    }
    expect(rows, `${title}: rows`).toBe(size);
    for (const [i, run] of own.entries()) {
      const where = `${title} (${size} rows) on page ${run.page}: ${own.map((r) => r.rows).join(" + ")}`;
      expect(run.rows, where).toBeGreaterThanOrEqual(Math.min(size, MIN_ROWS_PER_PAGE));
      // Its title, on the page of its header row: never a title at the foot of a page.
      const text = pages[run.page - 1] ?? "";
      const heading = i === 0 ? title : `${title} (continued)`;
      expect(new RegExp(`^\\s*${heading.replace(/[()]/g, "\\$&")}\\s*$`, "m").test(text), where).toBe(true);
      if (i > 0) expect(run.page, where).toBe((own[i - 1]?.page ?? 0) + 1);
    }
    // A short table is kept together.
    if (size <= KEEP_TOGETHER_LINES) expect(own, `${title} (${size} rows) split`).toHaveLength(1);
  }
  expect(next, "runs of rows beyond the tables").toBe(runs.length);
}

describe("PDF tables across pages", () => {
  it("moves a four-row table whole rather than leaving two rows at the foot of a page", async () => {
    // Under the first page's heading 32 rows fit; after 26 of them (and a title and header row),
    // room for 2 rows under a title and header row is left.
    await expectLaidOut([26, 4, 5], false);
  });

  it("continues a long table on the next pages, a header row on each, never 1 or 2 rows on the last", async () => {
    // 33 rows: the first page's 32 and one more; then 30 fit on the second page, 37 on the third
    // and 1 more of 68.
    await expectLaidOut([33, 68, 4], false);
  });

  it("lays out any mix of table sizes so, under charts too", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 80 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        (sizes, charts) => expectLaidOut(sizes, charts),
      ),
      { seed: 20_261_207, numRuns: 5, endOnFailure: true },
    );
  }, 300_000);
});
