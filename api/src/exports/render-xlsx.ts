import ExcelJS from "exceljs";
import { type Cell, type ColumnKind, type ExportDocument, humanise, kindOf } from "./document";
import {
  amountOf,
  type Currency,
  currencyOf,
  DEFAULT_RENDER_OPTIONS,
  formatPeriod,
  type RenderOptions,
  wallTimeAsUtc,
  wallTimeOf,
} from "./format";

/**
 * XLSX: a "Report" sheet (report, funnel, period, time zone, currency, when generated), then one
 * sheet per table, its header row frozen and bold. Figures are number cells carrying their format:
 * money in the currency ("$#,##0.00", the value the amount), rates as percentages (the value the
 * fraction), counts with thousands separators; times are date cells in the report's time zone.
 * Written as a stream (ExcelJS's WorkbookWriter), so a year of converting visitors never sits in
 * memory as a workbook. Every value is written as data: strings as shared strings, never as
 * formulas, so a product named "=HYPERLINK(…)" stays that text. Step ids are left to the CSV.
 */
export async function renderXlsx(
  doc: ExportDocument,
  file: string,
  options: RenderOptions = DEFAULT_RENDER_OPTIONS,
): Promise<void> {
  const currency = currencyOf(options.currency);
  const formats = numberFormats(currency);
  const zone = doc.period.time_zone;
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({
    filename: file,
    useStyles: true,
    useSharedStrings: true,
  });
  workbook.creator = "Funnel analytics";
  workbook.created = new Date(doc.generatedAt);

  const meta = workbook.addWorksheet("Report");
  meta.columns = [{ width: 16 }, { width: 48 }];
  const title = meta.addRow([asText(doc.title)]);
  title.font = { bold: true, size: 14 };
  title.commit();
  const metaRows: [string, string | Date][] = [
    ["Funnel", doc.funnelName],
    ["Period", formatPeriod(doc.period)],
    ["Time zone", zone],
    ...(doc.granularity ? [["Grouped by", humanise(doc.granularity)] as [string, string]] : []),
    ["Currency", currency.code],
    ["Generated", wallTimeAsUtc(wallTimeOf(doc.generatedAt, zone))],
  ];
  for (const [field, value] of metaRows) {
    const row = meta.addRow([field, typeof value === "string" ? asText(value) : value]);
    row.getCell(1).font = { bold: true };
    if (value instanceof Date) {
      row.getCell(2).numFmt = formats.datetime;
      row.getCell(2).alignment = { horizontal: "left" };
    }
    row.commit();
  }
  await meta.commit();

  const used = new Set<string>(["Report"]);
  for (const table of doc.tables) {
    const sheet = workbook.addWorksheet(sheetName(table.title, used), {
      views: [{ state: "frozen", ySplit: 1 }],
    });
    const shown = table.columns.flatMap((column, i) => (column.csvOnly ? [] : [{ column, i }]));
    sheet.columns = shown.map(({ column }) => ({
      header: column.header,
      width: Math.min(60, Math.max(12, column.header.length + 2, WIDTHS[column.kind])),
      style: { numFmt: formats[column.kind] },
    }));
    sheet.getRow(1).font = { bold: true };
    sheet.getRow(1).commit();
    for (const [r, cells] of table.rows.entries()) {
      const row = sheet.addRow(
        shown.map(({ column, i }) => asCellValue(cells[i] ?? null, kindOf(column, r), zone, currency)),
      );
      shown.forEach(({ column }, c) => {
        if (column.kinds) row.getCell(c + 1).numFmt = formats[kindOf(column, r)];
      });
      row.commit();
    }
    await sheet.commit();
  }
  await workbook.commit();
}

/** Least column widths (characters) by kind, so a date or an amount never shows as ####. */
const WIDTHS: Record<ColumnKind, number> = {
  text: 0,
  integer: 10,
  rate: 10,
  money: 14,
  number: 12,
  date: 13,
  datetime: 18,
};

/** The number format of each kind of cell; money's in the currency. */
function numberFormats(currency: Currency): Record<ColumnKind, string> {
  const decimals = currency.digits > 0 ? `.${"0".repeat(currency.digits)}` : "";
  const symbol = `"${currency.symbol.replace(/"/g, "")}"`;
  return {
    text: "@",
    integer: "#,##0",
    rate: "0.00%",
    money: `${symbol}#,##0${decimals};-${symbol}#,##0${decimals}`,
    number: "#,##0.00",
    date: "d mmm yyyy",
    datetime: "d mmm yyyy hh:mm",
  };
}

/**
 * A cell as written: money as the amount, a time as a date cell of its wall time in the report's
 * time zone (a spreadsheet date has no zone). A number that is not finite has no cell value in the
 * file format (a workbook holding one does not open), so it is an empty cell, as the report route's
 * JSON gives null.
 */
function asCellValue(cell: Cell, kind: ColumnKind, zone: string, currency: Currency): Cell | Date {
  if (typeof cell === "string") {
    if (kind === "date" || kind === "datetime") return wallTimeAsUtc(wallTimeOf(cell, zone));
    return asText(cell);
  }
  if (typeof cell !== "number" || !Number.isFinite(cell)) return null;
  return kind === "money" ? amountOf(cell, currency) : cell;
}

/** What XML 1.0 cannot hold (control characters but tab and line feed, U+FFFE, U+FFFF), and CR. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const NOT_XML_TEXT = /[\u0000-\u0008\u000B-\u001F\uFFFE\uFFFF]/g;

/**
 * A string as OOXML stores text. A character XML cannot hold is written as its `_xHHHH_` escape
 * (a visitor's control character would otherwise make the whole workbook unreadable), and so is a
 * carriage return, which XML turns into a line feed when read; a literal `_xHHHH_` in the text is
 * escaped in turn (`_x005F_` is the underscore), so that what a visitor typed reads back unchanged.
 */
function asText(text: string): string {
  return text
    .replace(/_(x[0-9A-Fa-f]{4}_)/g, "_x005F_$1")
    .replace(NOT_XML_TEXT, (ch) => `_x${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}_`);
}

/** Excel sheet names: at most 31 characters, none of []:*?/\, unique in the workbook. */
function sheetName(title: string, used: Set<string>): string {
  const base = title.replace(/[[\]:*?/\\]/g, " ").slice(0, 31);
  let name = base;
  for (let i = 2; used.has(name); i++) name = `${base.slice(0, 28)} ${i}`;
  used.add(name);
  return name;
}
