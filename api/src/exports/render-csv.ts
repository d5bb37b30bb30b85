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
  await pipeline(records(doc), stringify({ bom: true, record_delimiter: "\r\n" }), createWriteStream(file));
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

const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A text cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR first: OWASP's list)
 * gets a leading apostrophe, so it shows as text. Visitors choose product names, sources, exit
 * reasons and more; every text cell is treated so. Numbers stay numbers (a negative net revenue is
 * a number, not text).
 */
export function neutraliseFormula(cell: Cell): Cell {
  return typeof cell === "string" && FORMULA_START.test(cell) ? `'${cell}` : cell;
}
