import ExcelJS from "exceljs";
import type { ColumnKind, ExportDocument } from "./document";

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
    for (const row of table.rows)
      sheet.addRow(row.map((cell) => (typeof cell === "string" ? asText(cell) : cell))).commit();
    await sheet.commit();
  }
  await workbook.commit();
}

/**
 * A string as OOXML stores text: XML turns a carriage return into a line feed when read, so it is
 * written as the `_x000D_` escape, and a literal `_xHHHH_` in the text is escaped in turn
 * (`_x005F_` is the underscore), so that what a visitor typed reads back unchanged.
 */
function asText(text: string): string {
  return text.replace(/_(x[0-9A-Fa-f]{4}_)/g, "_x005F_$1").replace(/\r/g, "_x000D_");
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
