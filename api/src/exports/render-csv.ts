import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { stringify } from "csv-stringify";
import type { Cell, ExportDocument } from "./document";

/**
 * CSV: a header section (report, funnel, period), then one section per table: its title on a line,
 * the column names, the rows, a blank line. UTF-8 with a byte-order mark, so spreadsheet programs
 * read names in any script.
 */
export async function renderCsv(doc: ExportDocument, file: string): Promise<void> {
  await pipeline(
    records(doc),
    stringify({
      bom: true,
      record_delimiter: "\r\n",
      // With CRLF as the record delimiter the library would leave a field holding a bare LF or CR
      // unquoted, and a spreadsheet starts a new row there (RFC 4180: quote every line break).
      quote_record_delimiter: true,
      // Like the report route's JSON (null), never the text "Infinity" or "NaN".
      cast: { number: (n) => (Number.isFinite(n) ? String(n) : "") },
    }),
    createWriteStream(file),
  );
}

function* records(doc: ExportDocument): Generator<Cell[]> {
  yield [doc.title].map(neutraliseFormula);
  yield ["funnel", doc.funnelName].map(neutraliseFormula);
  yield ["period_start", doc.period.start];
  yield ["period_end", doc.period.end];
  yield ["time_zone", doc.period.time_zone].map(neutraliseFormula);
  if (doc.granularity) yield ["granularity", doc.granularity];
  yield ["generated_at", doc.generatedAt];
  for (const table of doc.tables) {
    yield [];
    yield [table.title];
    yield table.columns.map((c) => c.header);
    for (const row of table.rows) yield row.map(neutraliseFormula);
  }
}

/**
 * What a spreadsheet runs as a formula: OWASP's =, +, -, @, tab and CR, and the full-width =, +, -
 * and @, which Apple Numbers reads as the plain ones.
 */
const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;
/** The same characters right after a line break inside the text. */
const FORMULA_AFTER_BREAK = /([\r\n])(?=[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20])/g;

/**
 * Text a spreadsheet would run as a formula gets a leading apostrophe, so it shows as text: at the
 * start of the cell and at the start of every line inside it, as a reader that splits rows at any
 * line break (or a cell pasted line by line) sees each line as a cell of its own. Visitors choose
 * product names, sources, exit reasons and more; every text cell is treated so. Numbers stay
 * numbers (a negative net revenue is a number, not text).
 */
export function neutraliseFormula(cell: Cell): Cell {
  if (typeof cell !== "string") return cell;
  // Lines first, then the cell: a cell opening with CR gets both its apostrophes ("'\r'=…").
  const lines = cell.replace(FORMULA_AFTER_BREAK, "$1'");
  return FORMULA_START.test(lines) ? `'${lines}` : lines;
}
