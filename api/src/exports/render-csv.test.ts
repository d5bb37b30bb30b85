import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isStorableText } from "@funnel/events";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csvText, FORMULA_START, parseCsv, startsFormula } from "../testing/exports";
import type { Cell, ExportDocument } from "./document";
import { formatPeriod, isoDateTime, wallTimeOf } from "./format";
import { neutraliseFormula, renderCsv } from "./render-csv";

/**
 * The CSV renderer on generated documents whose texts mix line breaks (CR, LF, CRLF), delimiters,
 * quotes and formula characters anywhere, read back with csv-parse the way a spreadsheet reads a
 * file: a record ends at any line break outside quotes (parseCsv). Every value must come back as written
 * (texts with the apostrophes of csvText), and nothing may start a formula: no cell, no
 * line inside a cell, no line of the file.
 */

const hostileText = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "=",
        "+",
        "-",
        "@",
        "\t",
        "\r",
        "\uFF1D",
        "\uFF0B",
        "\uFF0D",
        "\uFF20",
        "\n",
        "\r\n",
        ",",
        ";",
        '"',
        "'",
        " ",
        "\uFEFF",
      ),
      fc.constantFrom(
        "=1+4",
        "@SUM(A1:A9)",
        "-2+3",
        '=HYPERLINK("https://evil.example","x")',
        "\n=cmd|' /C calc'!A0",
      ),
      fc.string({ unit: "binary", maxLength: 6 }),
    ),
    { maxLength: 10 },
  )
  .map((parts) => parts.join(""))
  // Texts come from the database, which stores neither NUL nor unpaired surrogates.
  .filter(isStorableText);

const cell: fc.Arbitrary<Cell> = fc.oneof(
  { weight: 4, arbitrary: hostileText },
  { weight: 1, arbitrary: fc.integer({ min: -1_000_000, max: 1_000_000 }) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constant(null) },
);

const document: fc.Arbitrary<ExportDocument> = fc.record({
  reportType: fc.constant("revenue" as const),
  title: hostileText,
  funnelName: hostileText,
  period: fc.record({
    start: fc.constant("2026-01-01T00:00:00.000Z"),
    end: fc.constant("2026-02-01T00:00:00.000Z"),
    // A time zone is checked against the IANA names before any export is made.
    time_zone: fc.constantFrom("UTC", "America/New_York", "Asia/Kathmandu"),
  }),
  granularity: fc.constant(null),
  generatedAt: fc.constant("2026-02-01T12:00:00.000Z"),
  tables: fc.array(
    fc.record({
      title: fc.constantFrom("Top products", "By source"),
      columns: fc.constant([
        { header: "name", kind: "text" as const },
        { header: "value", kind: "number" as const },
        { header: "note", kind: "text" as const },
      ]),
      rows: fc.array(fc.array(cell, { minLength: 3, maxLength: 3 }), { maxLength: 5 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  charts: fc.constant([]),
});

/** What each record of the file must read back as: texts by the rule, numbers as numbers, null empty. */
function expectedRecords(doc: ExportDocument): Cell[][] {
  return [
    [doc.title],
    ["Funnel", doc.funnelName],
    ["Period", formatPeriod(doc.period)],
    ["Time zone", doc.period.time_zone],
    ["Currency", "USD"],
    ["Generated", isoDateTime(wallTimeOf(doc.generatedAt, doc.period.time_zone))],
    ...doc.tables.flatMap((t) => [[""], [t.title], t.columns.map((c) => c.header), ...t.rows]),
  ];
}

let dir: string;
let files = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "funnel-csv-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function rendered(doc: ExportDocument): Promise<string> {
  const file = join(dir, `${files++}.csv`);
  await renderCsv(doc, file);
  return readFile(file, "utf8");
}

describe("CSV rendering of visitor-chosen texts", () => {
  it("reads back every value, and no cell, no line inside a cell and no line of the file starts a formula", async () => {
    await fc.assert(
      fc.asyncProperty(document, async (doc) => {
        const text = await rendered(doc);
        const records = parseCsv(text);
        const expected = expectedRecords(doc);
        expect(records).toHaveLength(expected.length);
        expected.forEach((row, r) => {
          const got = records[r] ?? [];
          expect(got, `record ${r}`).toHaveLength(row.length);
          row.forEach((value, c) => {
            const read = got[c];
            const where = `record ${r}, field ${c}: ${JSON.stringify(value)} read as ${JSON.stringify(read)}`;
            if (typeof value === "number") {
              // A number, negative ones included, stays the number; a non-finite one is empty, as
              // the report route's JSON gives null.
              if (Number.isFinite(value)) expect(Number(read) === value, where).toBe(true);
              else expect(read, where).toBe("");
            } else if (typeof value === "string") {
              expect(read, where).toBe(csvText(value));
              expect(startsFormula(read ?? ""), where).toBe(false);
            } else {
              expect(read, where).toBe("");
            }
          });
        });
        // A reader that splits the file into lines before anything else: a line may start with a
        // formula character only as a negative number in a record's first field.
        const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);
        for (const line of lines) {
          if (FORMULA_START.test(line)) expect(line, JSON.stringify(line)).toMatch(/^-\d/);
        }
      }),
      { seed: 20_261_201, numRuns: 200, endOnFailure: true },
    );
  });

  it("puts the apostrophe at the start of the cell and of every line inside it", () => {
    expect(neutraliseFormula("Mug\n=1+4")).toBe("Mug\n'=1+4");
    expect(neutraliseFormula("Mug\r@SUM(A1:A9)")).toBe("Mug\r'@SUM(A1:A9)");
    expect(neutraliseFormula("Mug\r\n-2+3")).toBe("Mug\r\n'-2+3");
    expect(neutraliseFormula("\r=1+1")).toBe("'\r'=1+1");
    expect(neutraliseFormula("a\r\r=1")).toBe("a\r'\r'=1");
    expect(neutraliseFormula("\uFF1D1+1")).toBe("'\uFF1D1+1");
    expect(neutraliseFormula("a = b\nc + d")).toBe("a = b\nc + d");
    expect(neutraliseFormula(-1_500)).toBe(-1_500);
    expect(neutraliseFormula(null)).toBeNull();
  });
});
