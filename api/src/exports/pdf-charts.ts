import { type PDFFont, type PDFPage, rgb } from "pdf-lib";
import type { BarChart, Chart, LineChart } from "./document";
import { amountOf, type Currency, formatDay, wallTimeOf } from "./format";

/**
 * Charts drawn with pdf-lib's own primitives (lines, rectangles, text): a line chart of a report's
 * over_time series and a funnel bar chart of step visitors. Each has a colour of its own that
 * nothing else on the page uses, so a rendered page can be checked pixel by pixel.
 */

export const LINE_COLOUR = { r: 37, g: 99, b: 235 } as const;
export const BAR_COLOUR = { r: 234, g: 88, b: 12 } as const;

const toRgb = (c: { r: number; g: number; b: number }) => rgb(c.r / 255, c.g / 255, c.b / 255);
const AXIS = rgb(0.45, 0.45, 0.45);
const GRID = rgb(0.88, 0.88, 0.88);
const INK = rgb(0.15, 0.15, 0.15);

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Fonts {
  regular: PDFFont;
  bold: PDFFont;
  /** Text the font can draw (WinAnsi), cut with an ellipsis to `width` when given. */
  fit(text: string, font: PDFFont, size: number, width?: number): string;
}

/** How a chart shows money (its currency) and dates (in the report's time zone). */
export interface ChartFormat {
  currency: Currency;
  timeZone: string;
}

export function drawChart(page: PDFPage, chart: Chart, box: Box, fonts: Fonts, format: ChartFormat): void {
  page.drawRectangle({ ...box, borderColor: GRID, borderWidth: 0.75 });
  const title =
    chart.kind === "line" && chart.unit === "money"
      ? `${chart.title} (${format.currency.code})`
      : chart.title;
  page.drawText(fonts.fit(title, fonts.bold, 10, box.width - 16), {
    x: box.x + 8,
    y: box.y + box.height - 16,
    size: 10,
    font: fonts.bold,
    color: INK,
  });
  const plot: Box = { x: box.x + 8, y: box.y + 8, width: box.width - 16, height: box.height - 30 };
  if (chart.kind === "line") drawLineChart(page, chart, plot, fonts, format);
  else drawBarChart(page, chart, plot, fonts);
}

function drawLineChart(page: PDFPage, chart: LineChart, area: Box, fonts: Fonts, format: ChartFormat): void {
  const labelWidth = 40;
  const plot: Box = {
    x: area.x + labelWidth,
    y: area.y + 14,
    width: area.width - labelWidth - 6,
    height: area.height - 18,
  };
  // Money in the currency's units (dollars, not cents), so the axis reads as amounts.
  const points =
    chart.unit === "money"
      ? chart.points.map((p) => ({ ...p, value: amountOf(p.value, format.currency) }))
      : chart.points;
  const top = niceCeiling(Math.max(0, ...points.map((p) => p.value)));
  for (let i = 0; i <= 4; i++) {
    const y = plot.y + (plot.height * i) / 4;
    page.drawLine({
      start: { x: plot.x, y },
      end: { x: plot.x + plot.width, y },
      thickness: 0.5,
      color: GRID,
    });
    const label = `${chart.unit === "money" ? format.currency.symbol : ""}${compact((top * i) / 4)}`;
    const w = fonts.regular.widthOfTextAtSize(label, 7);
    page.drawText(label, { x: plot.x - w - 4, y: y - 2.5, size: 7, font: fonts.regular, color: AXIS });
  }
  page.drawLine({
    start: { x: plot.x, y: plot.y },
    end: { x: plot.x, y: plot.y + plot.height },
    thickness: 0.75,
    color: AXIS,
  });
  const n = points.length;
  const at = (i: number, value: number) => ({
    x: plot.x + (n === 1 ? plot.width / 2 : (plot.width * i) / (n - 1)),
    y: plot.y + (plot.height * value) / top,
  });
  const colour = toRgb(LINE_COLOUR);
  for (let i = 0; i + 1 < n; i++) {
    const a = points[i];
    const b = points[i + 1];
    if (a && b)
      page.drawLine({ start: at(i, a.value), end: at(i + 1, b.value), thickness: 1.5, color: colour });
  }
  if (n <= 62) {
    points.forEach((p, i) => {
      page.drawCircle({ ...at(i, p.value), size: 1.8, color: colour });
    });
  }
  // Dates of the first, middle and last buckets under the axis, in the report's time zone.
  const ticks = n === 0 ? [] : [...new Set([0, Math.floor((n - 1) / 2), n - 1])];
  for (const i of ticks) {
    const stamp = points[i]?.label;
    const label = stamp ? formatDay(wallTimeOf(stamp, format.timeZone)) : "";
    const w = fonts.regular.widthOfTextAtSize(label, 7);
    const x = Math.min(Math.max(at(i, 0).x - w / 2, plot.x), plot.x + plot.width - w);
    page.drawText(label, { x, y: area.y + 2, size: 7, font: fonts.regular, color: AXIS });
  }
}

function drawBarChart(page: PDFPage, chart: BarChart, area: Box, fonts: Fonts): void {
  const labelWidth = Math.min(130, area.width * 0.35);
  const valueWidth = 40;
  const n = Math.max(1, chart.bars.length);
  const slot = area.height / n;
  const barHeight = Math.max(2, Math.min(22, slot - 4));
  const max = Math.max(1, ...chart.bars.map((b) => b.value));
  const span = area.width - labelWidth - valueWidth - 8;
  const colour = toRgb(BAR_COLOUR);
  chart.bars.forEach((bar, i) => {
    const y = area.y + area.height - slot * (i + 1) + (slot - barHeight) / 2;
    const size = Math.min(8, Math.max(5, barHeight * 0.6));
    page.drawText(fonts.fit(bar.label, fonts.regular, size, labelWidth - 6), {
      x: area.x,
      y: y + barHeight / 2 - size / 3,
      size,
      font: fonts.regular,
      color: INK,
    });
    // A funnel: each bar centred on the same axis, as wide as its share of the widest step.
    const width = (span * bar.value) / max;
    const x = area.x + labelWidth + (span - width) / 2;
    if (width > 0) page.drawRectangle({ x, y, width, height: barHeight, color: colour });
    page.drawText(compact(bar.value), {
      x: area.x + labelWidth + span + 6,
      y: y + barHeight / 2 - size / 3,
      size,
      font: fonts.regular,
      color: INK,
    });
  });
}

/** The smallest 1, 2, 2.5 or 5 × 10^k at or above `value` (1 for nothing to show). */
export function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

/** 1234 → "1.2k", 3400000 → "3.4M"; small values as they are. */
export function compact(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${trim(value / 1e9)}G`;
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e4) return `${trim(value / 1e3)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function trim(value: number): string {
  return value.toFixed(1).replace(/\.0$/, "");
}
