import { writeFile } from "node:fs/promises";
import { PDFDocument, type PDFFont, type PDFPage, rgb, StandardFonts } from "pdf-lib";
import { type Cell, type Column, type ColumnKind, type ExportDocument, kindOf, type Table } from "./document";
import {
  type Currency,
  currencyOf,
  DEFAULT_RENDER_OPTIONS,
  formatDateTime,
  formatDay,
  formatMoney,
  formatNumber,
  formatPercent,
  formatPeriod,
  type RenderOptions,
  wallTimeOf,
} from "./format";
import { type Box, drawChart, type Fonts } from "./pdf-charts";

/**
 * PDF (pdf-lib): A4 landscape; the title (report and funnel), the period as people write it (in
 * its time zone, last day included), with `include_charts` the report's charts, then every table:
 * labelled columns, money in the currency, rates as percentages, dates as dates; a table kept with
 * its title and header, never leaving a row or two alone on a page, its header repeated on every
 * page it spans. The standard Helvetica font carries WinAnsi (Latin) text only: other characters
 * print as "?".
 */

export const PAGE = { width: 841.89, height: 595.28 } as const;
const MARGIN = 36;
const CONTENT_WIDTH = PAGE.width - 2 * MARGIN;
const FOOTER = 20;
const ROW_HEIGHT = 13;
const CELL_SIZE = 8;
const CELL_PAD = 4;
/** Rows of one table a PDF prints; CSV and XLSX carry them all. About 290 pages of one table. */
export const PDF_MAX_ROWS = 10_000;

/** Where the charts go on the first page, in PDF points (origin bottom left): one slot each. */
export function chartBoxes(count: number): Box[] {
  const gap = 16;
  const width = (CONTENT_WIDTH - gap) / 2;
  const height = 200;
  const y = PAGE.height - MARGIN - 64 - height;
  return Array.from({ length: count }, (_, i) => ({ x: MARGIN + i * (width + gap), y, width, height }));
}

const INK = rgb(0.1, 0.1, 0.1);
const MUTED = rgb(0.4, 0.4, 0.4);

/** The header row's fill and the rule under each row: colours nothing else on a page uses. */
export const TABLE_HEADER_COLOUR = { r: 219, g: 230, b: 250 } as const;
export const ROW_RULE_COLOUR = { r: 150, g: 172, b: 210 } as const;
const toRgb = (c: { r: number; g: number; b: number }) => rgb(c.r / 255, c.g / 255, c.b / 255);

/** Rows a page must hold of a table that has more: a page never carries a lone row or two of one. */
export const MIN_ROWS_PER_PAGE = 3;
/** A table this short that does not fit where the page is goes whole onto the next page. */
export const KEEP_TOGETHER_LINES = 15;

export async function renderPdf(
  doc: ExportDocument,
  file: string,
  options: RenderOptions = DEFAULT_RENDER_OPTIONS,
): Promise<void> {
  await writeFile(file, await pdfBytes(doc, options));
}

export async function pdfBytes(
  doc: ExportDocument,
  options: RenderOptions = DEFAULT_RENDER_OPTIONS,
): Promise<Uint8Array> {
  const currency = currencyOf(options.currency);
  const zone = doc.period.time_zone;
  const pdf = await PDFDocument.create();
  pdf.setTitle(`${doc.title}: ${doc.funnelName}`);
  pdf.setCreator("Funnel analytics");
  pdf.setCreationDate(new Date(doc.generatedAt));
  const fonts = await loadFonts(pdf);
  const writer = new PageWriter(pdf, fonts, (cell, kind) => formatCell(cell, kind, zone, currency));

  const first = writer.page;
  first.drawText(fonts.fit(`${doc.title}: ${doc.funnelName}`, fonts.bold, 18, CONTENT_WIDTH), {
    x: MARGIN,
    y: PAGE.height - MARGIN - 18,
    size: 18,
    font: fonts.bold,
    color: INK,
  });
  first.drawText(fonts.fit(periodLine(doc), fonts.regular, 10, CONTENT_WIDTH), {
    x: MARGIN,
    y: PAGE.height - MARGIN - 36,
    size: 10,
    font: fonts.regular,
    color: INK,
  });
  const generated = formatDateTime(wallTimeOf(doc.generatedAt, zone));
  first.drawText(fonts.fit(`Generated ${generated}. Amounts in ${currency.code}.`, fonts.regular, 8), {
    x: MARGIN,
    y: PAGE.height - MARGIN - 50,
    size: 8,
    font: fonts.regular,
    color: MUTED,
  });
  writer.y = PAGE.height - MARGIN - 64;

  if (doc.charts.length > 0) {
    const boxes = chartBoxes(doc.charts.length);
    doc.charts.forEach((chart, i) => {
      const box = boxes[i];
      if (box) drawChart(first, chart, box, fonts, { currency, timeZone: zone });
    });
    writer.y = Math.min(...boxes.map((b) => b.y)) - 12;
  }

  for (const table of doc.tables) writer.table(table);

  const pages = pdf.getPages();
  pages.forEach((page, i) => {
    const label = `${doc.title}: ${doc.funnelName} - page ${i + 1} of ${pages.length}`;
    page.drawText(fonts.fit(label, fonts.regular, 7, CONTENT_WIDTH), {
      x: MARGIN,
      y: MARGIN - 14,
      size: 7,
      font: fonts.regular,
      color: MUTED,
    });
  });
  return pdf.save();
}

/** "Period: 1 Nov – 7 Dec 2026 (Europe/Berlin), by day" */
export function periodLine(doc: Pick<ExportDocument, "period" | "granularity">): string {
  const by = doc.granularity ? `, by ${doc.granularity}` : "";
  return `Period: ${formatPeriod(doc.period)} (${doc.period.time_zone})${by}`;
}

async function loadFonts(pdf: PDFDocument): Promise<Fonts> {
  const regular = await pdf.embedFont(StandardFonts.Helvetica);
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);
  const drawable = new Set(regular.getCharacterSet());
  const clean = (text: string) =>
    Array.from(text.replace(/[\t\r\n]+/g, " "), (ch) =>
      drawable.has(ch.codePointAt(0) ?? 0) ? ch : "?",
    ).join("");
  return {
    regular,
    bold,
    fit(text, font, size, width) {
      const safe = clean(text);
      if (width === undefined || font.widthOfTextAtSize(safe, size) <= width) return safe;
      // The longest prefix that fits with an ellipsis (binary search on its length).
      let lo = 0;
      let hi = safe.length;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (font.widthOfTextAtSize(`${safe.slice(0, mid)}…`, size) <= width) lo = mid;
        else hi = mid - 1;
      }
      return `${safe.slice(0, lo)}…`;
    },
  };
}

/** A table as printed: the columns people read (ids are the CSV's) and its rows' texts. */
interface PrintedTable {
  title: string;
  columns: Column[];
  widths: number[];
  rows: string[][];
  /** Said after the last row: no rows, or rows left out. */
  note: string | null;
}

type CellFormatter = (cell: Cell, kind: ColumnKind) => string;

const TITLE_HEIGHT = 22;
const TABLE_GAP = 10;
const BOTTOM = MARGIN + FOOTER - 14;
const TOP = PAGE.height - MARGIN;

/**
 * Draws tables top to bottom. A table that fits where the page is goes there; a short one that
 * does not goes whole onto the next page; a longer one continues on the next pages, every page
 * holding at least MIN_ROWS_PER_PAGE of its rows under its title ("continued") and header row.
 */
class PageWriter {
  page: PDFPage;
  y: number;

  constructor(
    private readonly pdf: PDFDocument,
    private readonly fonts: Fonts,
    private readonly format: CellFormatter,
  ) {
    this.page = pdf.addPage([PAGE.width, PAGE.height]);
    this.y = TOP;
  }

  private newPage(): void {
    this.page = this.pdf.addPage([PAGE.width, PAGE.height]);
    this.y = TOP;
  }

  /** Lines (rows or the note) that fit under a title and a header row from `y` down. */
  private static capacity(y: number): number {
    return Math.max(0, Math.floor((y - BOTTOM - TITLE_HEIGHT - ROW_HEIGHT) / ROW_HEIGHT));
  }

  table(table: Table): void {
    const printed = this.printed(table);
    const lines = printed.rows.length + (printed.note === null ? 0 : 1);
    const here = PageWriter.capacity(this.y);
    const page = PageWriter.capacity(TOP);
    const short = lines <= Math.min(page, KEEP_TOGETHER_LINES);
    if (lines > here && (short || here < MIN_ROWS_PER_PAGE)) this.newPage();
    const chunks = splitLines(lines, PageWriter.capacity(this.y), page);
    let next = 0;
    chunks.forEach((size, i) => {
      if (i > 0) this.newPage();
      this.title(i === 0 ? printed.title : `${printed.title} (continued)`);
      this.header(printed);
      for (let line = next; line < next + size; line++) {
        const row = printed.rows[line];
        if (row) this.row(printed, row);
        else if (printed.note !== null) this.note(printed.note);
      }
      next += size;
    });
    this.y -= TABLE_GAP;
  }

  private printed(table: Table): PrintedTable {
    const shown = table.columns.flatMap((column, i) => (column.csvOnly ? [] : [{ column, i }]));
    const kept = table.rows.length > PDF_MAX_ROWS ? table.rows.slice(0, PDF_MAX_ROWS) : table.rows;
    const rows = kept.map((row, r) =>
      shown.map(({ column, i }) => this.format(row[i] ?? null, kindOf(column, r))),
    );
    const columns = shown.map(({ column }) => column);
    let note: string | null = null;
    if (table.rows.length === 0) note = "No rows in this period.";
    else if (kept.length < table.rows.length)
      note = `Showing the first ${kept.length.toLocaleString("en-US")} of ${table.rows.length.toLocaleString(
        "en-US",
      )} rows; the CSV and XLSX exports list them all.`;
    return { title: table.title, columns, widths: columnWidths(columns, rows, this.fonts), rows, note };
  }

  private title(text: string): void {
    this.y -= 16;
    this.page.drawText(this.fonts.fit(text, this.fonts.bold, 11, CONTENT_WIDTH), {
      x: MARGIN,
      y: this.y,
      size: 11,
      font: this.fonts.bold,
      color: INK,
    });
    this.y -= TITLE_HEIGHT - 16;
  }

  private note(text: string): void {
    this.y -= ROW_HEIGHT;
    this.page.drawText(this.fonts.fit(text, this.fonts.regular, CELL_SIZE, CONTENT_WIDTH), {
      x: MARGIN + CELL_PAD,
      y: this.y + 4,
      size: CELL_SIZE,
      font: this.fonts.regular,
      color: MUTED,
    });
  }

  private header(table: PrintedTable): void {
    this.y -= ROW_HEIGHT;
    const total = table.widths.reduce((a, b) => a + b, 0);
    this.page.drawRectangle({
      x: MARGIN,
      y: this.y,
      width: total,
      height: ROW_HEIGHT,
      color: toRgb(TABLE_HEADER_COLOUR),
    });
    this.cells(
      table,
      table.columns.map((c) => c.header),
      this.fonts.bold,
    );
  }

  private row(table: PrintedTable, texts: string[]): void {
    this.y -= ROW_HEIGHT;
    this.cells(table, texts, this.fonts.regular);
    const total = table.widths.reduce((a, b) => a + b, 0);
    this.page.drawLine({
      start: { x: MARGIN, y: this.y },
      end: { x: MARGIN + total, y: this.y },
      thickness: 0.5,
      color: toRgb(ROW_RULE_COLOUR),
    });
  }

  private cells(table: PrintedTable, texts: string[], font: PDFFont): void {
    let x = MARGIN;
    texts.forEach((raw, i) => {
      const width = table.widths[i] ?? 0;
      const text = this.fonts.fit(raw, font, CELL_SIZE, width - 2 * CELL_PAD);
      const column = table.columns[i];
      // Figures right-aligned, their header too, so a column reads down one edge.
      const right = column !== undefined && (isFigure(column) || column.kinds !== undefined);
      const textWidth = font.widthOfTextAtSize(text, CELL_SIZE);
      this.page.drawText(text, {
        x: right ? x + width - CELL_PAD - textWidth : x + CELL_PAD,
        y: this.y + 4,
        size: CELL_SIZE,
        font,
        color: INK,
      });
      x += width;
    });
  }
}

/**
 * How many lines each page takes: `first` fit on the page the table starts on, `page` on each
 * next one. A last page that would hold fewer than MIN_ROWS_PER_PAGE takes them from the one
 * before (which holds a page's worth: a table that fits one page is never split).
 */
export function splitLines(lines: number, first: number, page: number): number[] {
  if (lines <= Math.max(first, 0)) return [lines];
  const sizes: number[] = [];
  let left = lines;
  let room = first;
  while (left > 0) {
    const take = Math.min(Math.max(room, 1), left);
    sizes.push(take);
    left -= take;
    room = page;
  }
  const last = sizes.length - 1;
  const short = MIN_ROWS_PER_PAGE - (sizes[last] ?? 0);
  if (last > 0 && short > 0 && (sizes[last - 1] ?? 0) - short >= MIN_ROWS_PER_PAGE) {
    sizes[last - 1] = (sizes[last - 1] ?? 0) - short;
    sizes[last] = (sizes[last] ?? 0) + short;
  }
  return sizes;
}

function isFigure(column: Column): boolean {
  return column.kind !== "text" && column.kind !== "date" && column.kind !== "datetime";
}

/** A cell as people read it: "$1,234.50", "48.72%", "1,234", "7 Dec 2026", "7 Dec 2026, 14:05". */
export function formatCell(cell: Cell, kind: ColumnKind, zone: string, currency: Currency): string {
  if (cell === null) return "";
  if (typeof cell === "string") {
    if (kind === "date") return formatDay(wallTimeOf(cell, zone));
    if (kind === "datetime") return formatDateTime(wallTimeOf(cell, zone));
    return cell;
  }
  if (!Number.isFinite(cell)) return "";
  if (kind === "rate") return formatPercent(cell);
  if (kind === "money") return formatMoney(cell, currency);
  return formatNumber(cell);
}

/** Each column as wide as its widest text (sampled); when they do not fit, the text columns are narrowed. */
function columnWidths(columns: Column[], rows: string[][], fonts: Fonts): number[] {
  const sample = rows.slice(0, 500);
  const natural = columns.map((column, i) => {
    let widest = fonts.bold.widthOfTextAtSize(fonts.fit(column.header, fonts.bold, CELL_SIZE), CELL_SIZE);
    for (const row of sample) {
      const text = fonts.fit(row[i] ?? "", fonts.regular, CELL_SIZE);
      widest = Math.max(widest, fonts.regular.widthOfTextAtSize(text, CELL_SIZE));
    }
    // +1: room for rounding, so a text measured to fit still fits.
    return Math.min(Math.max(widest + 2 * CELL_PAD + 1, 40), 320);
  });
  const sum = (widths: number[]) => widths.reduce((a, b) => a + b, 0);
  const total = sum(natural);
  if (total <= CONTENT_WIDTH) return natural;
  // Figures and times are never cut short: the text columns give up the room (and get ellipses).
  const cut = columns.map((c) => c.kind === "text" && c.kinds === undefined);
  const fixed = sum(natural.filter((_, i) => !cut[i]));
  const flexible = total - fixed;
  const room = CONTENT_WIDTH - fixed;
  if (flexible === 0 || room < 40 * cut.filter(Boolean).length) {
    return natural.map((w) => (w * CONTENT_WIDTH) / total);
  }
  return natural.map((w, i) => (cut[i] ? (w * room) / flexible : w));
}
