import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isStorableText } from "@funnel/events";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readXlsx } from "../testing/exports";
import type { Cell, ExportDocument } from "./document";
import { renderXlsx } from "./render-xlsx";

/**
 * The XLSX renderer on generated documents: texts with formula starts, line breaks, control
 * characters and OOXML escapes anywhere, and numbers including NaN and ±Infinity. Read back with
 * ExcelJS, every text is the same string in a text cell (a spreadsheet never runs a string cell,
 * so no apostrophe is added), no cell holds a formula, and a non-finite number is an empty cell
 * (as the report route's JSON gives null), never a value the file format cannot hold.
 */

const hostileText = fc
  .array(
    fc.oneof(
      fc.constantFrom("=", "+", "-", "@", "\t", "\r", "\n", "\r\n", "\u0001", "\u001f", "\ufffe", "\uFF1D"),
      fc.constantFrom("=1+4", "@SUM(A1:A9)", '=HYPERLINK("https://evil.example","x")', "_x000D_", "_x005F_"),
      fc.string({ unit: "binary", maxLength: 6 }),
    ),
    { minLength: 1, maxLength: 10 },
  )
  .map((parts) => parts.join(""))
  // Texts come from the database, which stores neither NUL nor unpaired surrogates.
  .filter(isStorableText);

const cell: fc.Arbitrary<Cell> = fc.oneof(
  { weight: 3, arbitrary: hostileText },
  { weight: 1, arbitrary: fc.integer({ min: -1_000_000, max: 1_000_000 }) },
  { weight: 2, arbitrary: fc.double() },
);

const document: fc.Arbitrary<ExportDocument> = fc.record({
  reportType: fc.constant("revenue" as const),
  title: fc.constant("Revenue report"),
  funnelName: hostileText,
  period: fc.constant({
    start: "2026-01-01T00:00:00.000Z",
    end: "2026-02-01T00:00:00.000Z",
    time_zone: "UTC",
  }),
  granularity: fc.constant(null),
  generatedAt: fc.constant("2026-02-01T12:00:00.000Z"),
  tables: fc.constant(null).chain(() =>
    fc.array(fc.array(cell, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 5 }).map((rows) => [
      {
        title: "Top products",
        columns: [
          { header: "name", kind: "text" as const },
          { header: "value", kind: "number" as const },
          { header: "note", kind: "text" as const },
        ],
        rows,
      },
    ]),
  ),
  charts: fc.constant([]),
});

let dir: string;
let files = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "funnel-xlsx-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("XLSX rendering of visitor-chosen texts and of any number", () => {
  it("reads back every text as the same string, no formula, and a non-finite number as an empty cell", async () => {
    await fc.assert(
      fc.asyncProperty(document, async (doc) => {
        const file = join(dir, `${files++}.xlsx`);
        await renderXlsx(doc, file);
        const sheets = await readXlsx(await readFile(file));
        for (const sheet of sheets) expect(sheet.formulas, sheet.name).toEqual([]);
        expect(sheets[0]?.rows).toContainEqual(["Funnel", doc.funnelName]);
        const [table] = doc.tables;
        const rows = sheets[1]?.rows.slice(1) ?? [];
        expect(rows).toHaveLength(table?.rows.length ?? 0);
        table?.rows.forEach((row, r) => {
          row.forEach((value, c) => {
            const read = rows[r]?.[c];
            const where = `row ${r}, column ${c}: ${JSON.stringify(value)}`;
            if (typeof value === "number" && !Number.isFinite(value)) expect(read, where).toBeNull();
            // -0 reads back as 0, the same figure.
            else if (typeof value === "number") expect(read === value, `${where} read as ${read}`).toBe(true);
            else expect(read, where).toBe(value);
          });
        });
      }),
      { seed: 20_261_201, numRuns: 100, endOnFailure: true },
    );
  });
});
