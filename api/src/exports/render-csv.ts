import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { stringify } from "csv-stringify";
import { type Cell, type ColumnKind, type ExportDocument, humanise, kindOf } from "./document";
import {
  amountOf,
  type Currency,
  currencyOf,
  DEFAULT_RENDER_OPTIONS,
  formatPeriod,
  isoDateTime,
  isoDay,
  percentOf,
  type RenderOptions,
  wallTimeOf,
} from "./format";

/**
 * CSV: a header section (report, funnel, period, time zone, currency), then one section per table:
 * a blank line, its title on a line, the column names, the rows. UTF-8 with a byte-order mark, so
 * spreadsheet programs read names in any script. Figures are plain numbers a spreadsheet or a
 * program reads as such: money in the currency (137417.99, the code in the column name), rates as
 * percentages (48.72, "(%)" in the name), times as dates and times in the report's time zone
 * ("2026-12-07", "2026-12-07 14:05:09"). Step ids follow as extra columns, for programs.
 */
export async function renderCsv(
  doc: ExportDocument,
  file: string,
  options: RenderOptions = DEFAULT_RENDER_OPTIONS,
): Promise<void> {
  await pipeline(
    records(doc, currencyOf(options.currency)),
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

function* records(doc: ExportDocument, currency: Currency): Generator<Cell[]> {
  const zone = doc.period.time_zone;
  yield [doc.title].map(neutraliseFormula);
  yield ["Funnel", doc.funnelName].map(neutraliseFormula);
  yield ["Period", formatPeriod(doc.period)];
  yield ["Time zone", zone].map(neutraliseFormula);
  if (doc.granularity) yield ["Grouped by", humanise(doc.granularity)];
  yield ["Currency", currency.code];
  yield ["Generated", isoDateTime(wallTimeOf(doc.generatedAt, zone))];
  for (const table of doc.tables) {
    yield [];
    yield [table.title];
    yield table.columns.map((c) => (c.kinds ? c.header : `${c.header}${unitOf(c.kind, currency)}`));
    for (const [r, row] of table.rows.entries()) {
      yield row.map((cell, i) => {
        const column = table.columns[i];
        const value = csvCell(cell, kindOf(column, r), zone, currency);
        // In a column of mixed kinds (a summary), the unit goes with the row's name.
        if (i === 0 && typeof value === "string") {
          const mixed = table.columns.find((c) => c.kinds);
          return neutraliseFormula(mixed ? `${value}${unitOf(kindOf(mixed, r), currency)}` : value);
        }
        return neutraliseFormula(value);
      });
    }
  }
}

/** " (%)", " (USD)": what a figure's column name adds so the plain number says what it is. */
function unitOf(kind: ColumnKind, currency: Currency): string {
  if (kind === "rate") return " (%)";
  if (kind === "money") return ` (${currency.code})`;
  return "";
}

function csvCell(cell: Cell, kind: ColumnKind, zone: string, currency: Currency): Cell {
  if (typeof cell === "number") {
    if (kind === "rate") return percentOf(cell);
    if (kind === "money") return amountOf(cell, currency);
    return cell;
  }
  if (typeof cell === "string") {
    if (kind === "date") return isoDay(wallTimeOf(cell, zone));
    if (kind === "datetime") return isoDateTime(wallTimeOf(cell, zone));
  }
  return cell;
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
