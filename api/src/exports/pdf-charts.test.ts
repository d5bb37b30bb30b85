import { beforeAll, describe, expect, it } from "vitest";
import { pdfText, pixelBox, pixelsOf, type Raster, rasterisePage } from "../testing/exports";
import type { ExportDocument } from "./document";
import { BAR_COLOUR, LINE_COLOUR } from "./pdf-charts";
import { chartBoxes, PAGE, pdfBytes } from "./render-pdf";

/**
 * The PDF's charts, checked on the rendered page (pdftoppm, then pixel by pixel): the line passes
 * through every point of the series where its value puts it, each bar is as wide as its share of the
 * widest and centred like a funnel; without charts, neither colour is anywhere on the page.
 */

const SCALE = 2;
const series = [0, 40, 10, 100, 55, 0, 70, 85];
const steps = [1200, 900, 450, 180, 0];

function doc(withCharts: boolean): ExportDocument {
  return {
    reportType: "conversions",
    title: "Conversions report",
    funnelName: "Chart funnel",
    period: { start: "2026-01-01T00:00:00.000Z", end: "2026-01-09T00:00:00.000Z", time_zone: "UTC" },
    granularity: "day",
    generatedAt: "2026-01-10T00:00:00.000Z",
    tables: [
      {
        title: "Over time",
        columns: [
          { header: "Day", kind: "date" },
          { header: "Conversions", kind: "integer" },
        ],
        rows: series.map((v, i) => [`2026-01-0${i + 1}T00:00:00.000Z`, v]),
      },
    ],
    charts: withCharts
      ? [
          {
            kind: "line",
            title: "Conversions over time",
            unit: "count",
            points: series.map((value, i) => ({ label: `2026-01-0${i + 1}T00:00:00.000Z`, value })),
          },
          {
            kind: "bar",
            title: "Visitors per step",
            bars: steps.map((value, i) => ({ label: `Step ${i + 1}`, value })),
          },
        ]
      : [],
  };
}

const near = (pixels: { x: number; y: number }[], x: number, y: number, radius: number) =>
  pixels.some((p) => Math.abs(p.x - x) <= radius && Math.abs(p.y - y) <= radius);

describe("PDF charts", () => {
  let page: Raster;
  const [lineBox, barBox] = chartBoxes(2);
  beforeAll(async () => {
    page = await rasterisePage(await pdfBytes(doc(true)), 1, SCALE);
  });

  it("draws the line through each point of the series", async () => {
    if (!lineBox) throw new Error("no chart box");
    const blue = pixelsOf(page, LINE_COLOUR, pixelBox(lineBox, PAGE.height, SCALE));
    expect(blue.length).toBeGreaterThan(100);
    // The line's extent: first to last point across, the largest value to zero down (dots included).
    const xs = blue.map((p) => p.x);
    const ys = blue.map((p) => p.y);
    const dot = 1.8 * SCALE;
    const left = Math.min(...xs) + dot;
    const right = Math.max(...xs) - dot;
    const top = Math.min(...ys) + dot;
    const bottom = Math.max(...ys) - dot;
    const max = Math.max(...series);
    series.forEach((value, i) => {
      const x = left + ((right - left) * i) / (series.length - 1);
      const y = bottom - ((bottom - top) * value) / max;
      expect(near(blue, Math.round(x), Math.round(y), 3), `point ${i} (${value}) at ${x}, ${y}`).toBe(true);
    });
    // Between two points the line runs straight: the middle of each segment is on it.
    for (let i = 0; i + 1 < series.length; i++) {
      const x = left + ((right - left) * (i + 0.5)) / (series.length - 1);
      const value = ((series[i] ?? 0) + (series[i + 1] ?? 0)) / 2;
      const y = bottom - ((bottom - top) * value) / max;
      expect(near(blue, Math.round(x), Math.round(y), 3), `segment ${i}`).toBe(true);
    }
  });

  it("draws one centred bar per step with visitors, as wide as its share of the first", async () => {
    if (!barBox) throw new Error("no chart box");
    const orange = pixelsOf(page, BAR_COLOUR, pixelBox(barBox, PAGE.height, SCALE));
    // Bars are bands of rows holding the bar colour, top to bottom in step order.
    const rows = new Map<number, number[]>();
    for (const p of orange) rows.set(p.y, [...(rows.get(p.y) ?? []), p.x]);
    const bands: { width: number; centre: number }[] = [];
    let previous = -10;
    for (const y of [...rows.keys()].sort((a, b) => a - b)) {
      const xs = rows.get(y) ?? [];
      const width = Math.max(...xs) - Math.min(...xs) + 1;
      const centre = (Math.max(...xs) + Math.min(...xs)) / 2;
      const last = bands[bands.length - 1];
      if (y === previous + 1 && last) {
        last.width = Math.max(last.width, width);
        last.centre = centre;
      } else bands.push({ width, centre });
      previous = y;
    }
    const drawn = steps.filter((v) => v > 0);
    expect(bands).toHaveLength(drawn.length);
    const widest = bands[0]?.width ?? 0;
    const first = steps[0] ?? 1;
    drawn.forEach((value, i) => {
      const band = bands[i];
      expect(Math.abs((band?.width ?? 0) - (widest * value) / first), `bar ${i}`).toBeLessThanOrEqual(2);
      expect(Math.abs((band?.centre ?? 0) - (bands[0]?.centre ?? 0)), `bar ${i} centre`).toBeLessThanOrEqual(
        1,
      );
    });
  });

  it("labels the charts", async () => {
    const text = await pdfText(await pdfBytes(doc(true)));
    expect(text).toContain("Conversions over time");
    expect(text).toContain("Visitors per step");
  });

  it("without charts, neither chart colour is on the page", async () => {
    const plain = await rasterisePage(await pdfBytes(doc(false)), 1, SCALE);
    expect(pixelsOf(plain, LINE_COLOUR)).toEqual([]);
    expect(pixelsOf(plain, BAR_COLOUR)).toEqual([]);
    expect(await pdfText(await pdfBytes(doc(false)))).not.toContain("Visitors per step");
  });
});
