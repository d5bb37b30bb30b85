import { useEffect, useRef } from "preact/hooks";
import { html, Table } from "./components.js";
import { bucket, compactCount, compactMoney, count, money, percent } from "./format.js";

/**
 * Series of a TimeChart: what a table cell shows, what the line plots, how an axis tick and the
 * hover legend read.
 */
export const countSeries = (key, label, axis) => ({
  key,
  label,
  axis,
  format: count,
  scale: (row) => row[key],
  axisFormat: compactCount,
  legend: count,
});
export const moneySeries = (key, label, axis) => ({
  key,
  label,
  axis,
  format: money,
  scale: (row) => row[key] / 100,
  axisFormat: (v) => compactMoney(v * 100),
  legend: (v) => money(v * 100),
});
export const rateSeries = (key, label, axis) => ({
  key,
  label,
  axis,
  format: percent,
  scale: (row) => row[key],
  axisFormat: percent,
  legend: percent,
});

/** Every chart's figures, as a table a screen reader (or anyone) can open. */
function FiguresTable({ title, columns, rows, name }) {
  return html`<details class="chart-figures">
    <summary>Figures of “${title}” as a table</summary>
    <${Table} caption=${title} columns=${columns} rows=${rows} name=${name} />
  </details>`;
}

/**
 * Horizontal bars, one per row, longest for the largest value. bars: { label(row), value(row),
 * text(row) }; the picture is hidden from screen readers, which get the table instead.
 */
export function BarChart({ title, rows, label, value, text, columns, name }) {
  const max = Math.max(1, ...rows.map(value));
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <div class="bars" aria-hidden="true">
      ${rows.map(
        (row) => html`<div class="bar-row">
          <span class="bar-label">${label(row)}</span>
          <span class="bar-track"><span class="bar" style=${`width:${(100 * value(row)) / max}%`}></span></span>
          <span class="bar-value">${text(row)}</span>
        </div>`,
      )}
    </div>
    <${FiguresTable} title=${title} columns=${columns} rows=${rows} name=${name} />
  </figure>`;
}

/**
 * Visitors per step as bars, labelled by step name: the overview's funnel and the real-time view's
 * active visitors read the same { step_name, visitors } rows, so they share one chart.
 */
export function StepVisitorsChart({ title, rows, name }) {
  return html`<${BarChart}
    title=${title}
    name=${name}
    rows=${rows}
    label=${(s) => s.step_name}
    value=${(s) => s.visitors}
    text=${(s) => count(s.visitors)}
    columns=${[
      { label: "Step", field: "step_name", value: (s) => s.step_name },
      { label: "Visitors", field: "visitors", numeric: true, value: (s) => count(s.visitors) },
    ]}
  />`;
}

const COLORS = ["#2563eb", "#d97706", "#059669", "#db2777"];

/**
 * An over-time line chart (uPlot) of rows with a `timestamp`; series: { key, label, format }.
 * Axes and the hover legend read dates in the chosen time zone.
 */
export function TimeChart({ title, rows, series, timeZone, granularity, name }) {
  const target = useRef(null);
  useEffect(() => {
    const element = target.current;
    if (!element || rows.length === 0 || typeof uPlot !== "function") return;
    const data = [
      rows.map((r) => Date.parse(r.timestamp) / 1000),
      ...series.map((s) => rows.map((r) => s.scale(r))),
    ];
    const chart = new uPlot(
      {
        width: Math.max(300, element.clientWidth),
        height: 240,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), timeZone),
        series: [
          { label: "Period" },
          ...series.map((s, i) => ({
            label: s.label,
            stroke: COLORS[i % COLORS.length],
            width: 2,
            scale: s.axis ?? "y",
            value: (_u, v) => (v === null || v === undefined ? "—" : s.legend(v)),
          })),
        ],
        axes: [
          {},
          ...[...new Set(series.map((s) => s.axis ?? "y"))].map((scale, i) => {
            const owner = series.find((s) => (s.axis ?? "y") === scale);
            return {
              scale,
              side: i === 0 ? 3 : 1,
              size: 70,
              values: (_u, ticks) => ticks.map((v) => owner.axisFormat(v)),
              grid: { show: i === 0 },
            };
          }),
        ],
      },
      data,
      element,
    );
    return () => chart.destroy();
  }, [rows, timeZone, series.map((s) => s.key).join()]);
  const columns = [
    { label: "Period", field: "timestamp", value: (r) => bucket(r.timestamp, timeZone, granularity) },
    ...series.map((s) => ({ label: s.label, field: s.key, numeric: true, value: (r) => s.format(r[s.key]) })),
  ];
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    ${rows.length === 0 ? html`<p class="muted">No data in this period.</p>` : html`<div ref=${target} class="uplot-host" aria-hidden="true"></div>`}
    <${FiguresTable} title=${title} columns=${columns} rows=${rows} name=${name} />
  </figure>`;
}
