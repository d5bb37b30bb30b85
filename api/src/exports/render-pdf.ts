import { writeFile } from "node:fs/promises";
import { PDFDocument, type PDFFont, type PDFPage, rgb, StandardFonts } from "pdf-lib";
import type { Cell, Column, ExportDocument, Table } from "./document";
import { type Box, drawChart, type Fonts } from "./pdf-charts";

/**
 * PDF (pdf-lib): A4 landscape; the title (report and funnel), the period, with `include_charts`
 * the report's charts, then every table, paginated with its header repeated on each page. The
 * standard Helvetica font carries WinAnsi (Latin) text only: other characters print as "?".
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
const HEADER_FILL = rgb(0.92, 0.92, 0.92);
const RULE = rgb(0.85, 0.85, 0.85);

export async function renderPdf(doc: ExportDocument, file: string): Promise<void> {
  await writeFile(file, await pdfBytes(doc));
}

export async function pdfBytes(doc: ExportDocument): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  pdf.setTitle(`${doc.title}: ${doc.funnelName}`);
  pdf.setCreator("Funnel analytics");
  pdf.setCreationDate(new Date(doc.generatedAt));
  const fonts = await loadFonts(pdf);
  const writer = new PageWriter(pdf, fonts);

  const first = writer.page;
  first.drawText(fonts.fit(`${doc.title}: ${doc.funnelName}`, fonts.bold, 18, CONTENT_WIDTH), {
    x: MARGIN,
    y: PAGE.height - MARGIN - 18,
    size: 18,
    font: fonts.bold,
    color: INK,
  });
  const period = `Period: ${doc.period.start} to ${doc.period.end} (${doc.period.time_zone})${
    doc.granularity ? `, by ${doc.granularity}` : ""
  }`;
  first.drawText(fonts.fit(period, fonts.regular, 10, CONTENT_WIDTH), {
    x: MARGIN,
    y: PAGE.height - MARGIN - 36,
    size: 10,
    font: fonts.regular,
    color: INK,
  });
  first.drawText(`Generated ${doc.generatedAt}. Times in UTC; rates as percentages; money in cents.`, {
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
      if (box) drawChart(first, chart, box, fonts);
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

/** Draws tables top to bottom, starting a new page (and repeating the header) when one is full. */
class PageWriter {
  page: PDFPage;
  y: number;

  constructor(
    private readonly pdf: PDFDocument,
    private readonly fonts: Fonts,
  ) {
    this.page = pdf.addPage([PAGE.width, PAGE.height]);
    this.y = PAGE.height - MARGIN;
  }

  private newPage(): void {
    this.page = this.pdf.addPage([PAGE.width, PAGE.height]);
    this.y = PAGE.height - MARGIN;
  }

  private room(height: number): boolean {
    return this.y - height >= MARGIN + FOOTER - 14;
  }

  table(table: Table): void {
    const widths = columnWidths(table, this.fonts);
    const shown = table.rows.length > PDF_MAX_ROWS ? table.rows.slice(0, PDF_MAX_ROWS) : table.rows;
    // Title, header and at least one row together, or a new page.
    if (!this.room(22 + ROW_HEIGHT * 2)) this.newPage();
    this.title(table.title);
    this.header(table.columns, widths);
    if (shown.length === 0) this.note("No rows in this period.");
    for (const row of shown) {
      if (!this.room(ROW_HEIGHT)) {
        this.newPage();
        this.title(`${table.title} (continued)`);
        this.header(table.columns, widths);
      }
      this.row(table.columns, widths, row);
    }
    if (shown.length < table.rows.length) {
      this.note(
        `Showing the first ${shown.length.toLocaleString("en-US")} of ${table.rows.length.toLocaleString(
          "en-US",
        )} rows; the CSV and XLSX exports list them all.`,
      );
    }
    this.y -= 10;
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
    this.y -= 6;
  }

  private note(text: string): void {
    if (!this.room(ROW_HEIGHT)) this.newPage();
    this.y -= ROW_HEIGHT;
    this.page.drawText(this.fonts.fit(text, this.fonts.regular, CELL_SIZE, CONTENT_WIDTH), {
      x: MARGIN + CELL_PAD,
      y: this.y + 4,
      size: CELL_SIZE,
      font: this.fonts.regular,
      color: MUTED,
    });
  }

  private header(columns: Column[], widths: number[]): void {
    this.y -= ROW_HEIGHT;
    const total = widths.reduce((a, b) => a + b, 0);
    this.page.drawRectangle({ x: MARGIN, y: this.y, width: total, height: ROW_HEIGHT, color: HEADER_FILL });
    this.cells(
      columns,
      widths,
      columns.map((c) => c.header),
      this.fonts.bold,
    );
  }

  private row(columns: Column[], widths: number[], row: Cell[]): void {
    this.y -= ROW_HEIGHT;
    this.cells(
      columns,
      widths,
      row.map((cell, i) => formatCell(cell, columns[i])),
      this.fonts.regular,
    );
    const total = widths.reduce((a, b) => a + b, 0);
    this.page.drawLine({
      start: { x: MARGIN, y: this.y },
      end: { x: MARGIN + total, y: this.y },
      thickness: 0.3,
      color: RULE,
    });
  }

  private cells(columns: Column[], widths: number[], texts: string[], font: PDFFont): void {
    let x = MARGIN;
    texts.forEach((raw, i) => {
      const width = widths[i] ?? 0;
      const text = this.fonts.fit(raw, font, CELL_SIZE, width - 2 * CELL_PAD);
      const numeric = isNumeric(columns[i]) && font === this.fonts.regular;
      const textWidth = font.widthOfTextAtSize(text, CELL_SIZE);
      this.page.drawText(text, {
        x: numeric ? x + width - CELL_PAD - textWidth : x + CELL_PAD,
        y: this.y + 4,
        size: CELL_SIZE,
        font,
        color: INK,
      });
      x += width;
    });
  }
}

function isNumeric(column: Column | undefined): boolean {
  return column !== undefined && column.kind !== "text" && column.kind !== "timestamp";
}

export function formatCell(cell: Cell, column: Column | undefined): string {
  if (cell === null) return "";
  if (typeof cell === "string") return cell;
  if (column?.kind === "rate") return `${(cell * 100).toFixed(2)}%`;
  if (Number.isInteger(cell)) return cell.toLocaleString("en-US");
  return cell.toFixed(4);
}

/** Each column as wide as its widest text (sampled); when they do not fit, the text columns are narrowed. */
function columnWidths(table: Table, fonts: Fonts): number[] {
  const sample = table.rows.slice(0, 500);
  const natural = table.columns.map((column, i) => {
    let widest = fonts.bold.widthOfTextAtSize(fonts.fit(column.header, fonts.bold, CELL_SIZE), CELL_SIZE);
    for (const row of sample) {
      const text = fonts.fit(formatCell(row[i] ?? null, column), fonts.regular, CELL_SIZE);
      widest = Math.max(widest, fonts.regular.widthOfTextAtSize(text, CELL_SIZE));
    }
    // +1: room for rounding, so a text measured to fit still fits.
    return Math.min(Math.max(widest + 2 * CELL_PAD + 1, 40), 320);
  });
  const sum = (widths: number[]) => widths.reduce((a, b) => a + b, 0);
  const total = sum(natural);
  if (total <= CONTENT_WIDTH) return natural;
  // Figures and times are never cut short: the text columns give up the room (and get ellipses).
  const cut = table.columns.map((c) => c.kind === "text");
  const fixed = sum(natural.filter((_, i) => !cut[i]));
  const flexible = total - fixed;
  const room = CONTENT_WIDTH - fixed;
  if (flexible === 0 || room < 40 * cut.filter(Boolean).length) {
    return natural.map((w) => (w * CONTENT_WIDTH) / total);
  }
  return natural.map((w, i) => (cut[i] ? (w * room) / flexible : w));
}
