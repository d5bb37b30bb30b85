import ExcelJS from "exceljs";
import type { Cell, ColumnKind, ExportDocument } from "./document";

/**
 * XLSX: a "Report" sheet (report, funnel, period), then one sheet per table. Written as a stream
 * (ExcelJS's WorkbookWriter), so a year of converting visitors never sits in memory as a workbook.
 * Every value is written as data: strings as shared strings, never as formulas, so a product
 * named "=HYPERLINK(…)" stays that text.
 */
export async function renderXlsx(doc: ExportDocument, file: string): Promise<void> {
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({
    filename: file,
    useStyles: true,
    useSharedStrings: true,
  });
  workbook.creator = "Funnel analytics";
  workbook.created = new Date(doc.generatedAt);

  const meta = workbook.addWorksheet("Report");
  meta.columns = [
    { header: "field", width: 16 },
    { header: "value", width: 48 },
  ];
  const metaRows: [string, string][] = [
    ["report", doc.title],
    ["funnel", doc.funnelName],
    ["period_start", doc.period.start],
    ["period_end", doc.period.end],
    ["time_zone", doc.period.time_zone],
    ...(doc.granularity ? [["granularity", doc.granularity] as [string, string]] : []),
    ["generated_at", doc.generatedAt],
  ];
  for (const row of metaRows) meta.addRow(row.map(asText)).commit();
  await meta.commit();

  const used = new Set<string>(["Report"]);
  for (const table of doc.tables) {
    const sheet = workbook.addWorksheet(sheetName(table.title, used), {
      views: [{ state: "frozen", ySplit: 1 }],
    });
    sheet.columns = table.columns.map((c) => ({
      header: c.header,
      width: Math.min(60, Math.max(12, c.header.length + 2, c.kind === "timestamp" ? 26 : 0)),
      style: { numFmt: NUMBER_FORMATS[c.kind] },
    }));
    sheet.getRow(1).font = { bold: true };
    sheet.getRow(1).commit();
    for (const row of table.rows) sheet.addRow(row.map(asCellValue)).commit();
    await sheet.commit();
  }
  await workbook.commit();
}

/**
 * A figure as a cell: a number that is not finite has no cell value in the file format (a workbook
 * holding one does not open), so it is an empty cell, as the report route's JSON gives null.
 */
function asCellValue(cell: Cell): Cell {
  if (typeof cell === "string") return asText(cell);
  return typeof cell === "number" && !Number.isFinite(cell) ? null : cell;
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

const NUMBER_FORMATS: Record<ColumnKind, string | undefined> = {
  text: "@",
  timestamp: "@",
  integer: "#,##0",
  rate: "0.00%",
  number: undefined,
};

/** Excel sheet names: at most 31 characters, none of []:*?/\, unique in the workbook. */
function sheetName(title: string, used: Set<string>): string {
  const base = title.replace(/[[\]:*?/\\]/g, " ").slice(0, 31);
  let name = base;
  for (let i = 2; used.has(name); i++) name = `${base.slice(0, 28)} ${i}`;
  used.add(name);
  return name;
}
