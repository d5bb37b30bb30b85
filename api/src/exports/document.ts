import type { ConversionsView } from "../services/analytics/reports/conversions";
import type { DropOffsView } from "../services/analytics/reports/dropoffs";
import type { OverviewView } from "../services/analytics/reports/overview";
import type { RevenueView } from "../services/analytics/reports/revenue";
import type { ReportType } from "./jobs";

/**
 * What every export format renders: a report's output as titled tables (one CSV section, one XLSX
 * sheet, one PDF table each) and the charts a PDF may draw. Built from the report services' own
 * views, so an export says exactly what the report route says.
 */

/** How a column's values read: rates are fractions, cents are integers, `number` either. */
export type ColumnKind = "text" | "integer" | "rate" | "number" | "timestamp";

export interface Column {
  header: string;
  kind: ColumnKind;
}

export type Cell = string | number | null;

export interface Table {
  title: string;
  columns: Column[];
  rows: Cell[][];
}

export interface LineChart {
  kind: "line";
  title: string;
  points: { label: string; value: number }[];
}

export interface BarChart {
  kind: "bar";
  title: string;
  bars: { label: string; value: number }[];
}

export type Chart = LineChart | BarChart;

export interface ExportDocument {
  reportType: ReportType;
  /** e.g. "Conversions report". */
  title: string;
  funnelName: string;
  period: { start: string; end: string; time_zone: string };
  granularity: string | null;
  generatedAt: string;
  tables: Table[];
  charts: Chart[];
}

export type ReportView =
  | { reportType: "overview"; view: OverviewView }
  | { reportType: "conversions"; view: ConversionsView }
  | { reportType: "dropoffs"; view: DropOffsView }
  | { reportType: "revenue"; view: RevenueView };

export interface DocumentInput {
  report: ReportView;
  funnelName: string;
  generatedAt: Date;
  /** Visitors of each step in funnel order, for the funnel bar chart; absent: no charts. */
  stepVisitors?: { label: string; value: number }[] | undefined;
}

const TITLES: Record<ReportType, string> = {
  overview: "Funnel overview",
  conversions: "Conversions report",
  dropoffs: "Drop-off report",
  revenue: "Revenue report",
};

const col = (header: string, kind: ColumnKind): Column => ({ header, kind });
const metric = (rows: [string, number][]): Table["rows"] => rows.map(([name, value]) => [name, value]);
const summaryColumns = [col("metric", "text"), col("value", "number")];

export function buildDocument(input: DocumentInput): ExportDocument {
  const { report } = input;
  const tables = tablesOf(report);
  const charts: Chart[] = [];
  if (input.stepVisitors) {
    const line = lineChartOf(report);
    if (line) charts.push(line);
    charts.push({ kind: "bar", title: "Visitors per step", bars: input.stepVisitors });
  }
  return {
    reportType: report.reportType,
    title: TITLES[report.reportType],
    funnelName: input.funnelName,
    period: report.view.period,
    granularity: "granularity" in report.view ? report.view.granularity : null,
    generatedAt: input.generatedAt.toISOString(),
    tables,
    charts,
  };
}

/** The step visitors a funnel bar chart shows, from any report that has them. */
export function stepVisitorsOf(view: OverviewView | DropOffsView): { label: string; value: number }[] {
  if ("steps" in view) return view.steps.map((s) => ({ label: s.step_name, value: s.visitors }));
  return view.drop_off_funnel.map((s) => ({ label: s.step_name, value: s.visitors }));
}

function lineChartOf(report: ReportView): LineChart | null {
  switch (report.reportType) {
    case "conversions":
      return {
        kind: "line",
        title: "Conversions over time",
        points: report.view.over_time.map((b) => ({ label: b.timestamp, value: b.conversions })),
      };
    case "revenue":
      return {
        kind: "line",
        title: "Revenue over time (cents)",
        points: report.view.over_time.map((b) => ({ label: b.timestamp, value: b.revenue_cents })),
      };
    default:
      // Overview and drop-offs have no over_time series.
      return null;
  }
}

function tablesOf(report: ReportView): Table[] {
  switch (report.reportType) {
    case "overview":
      return overviewTables(report.view);
    case "conversions":
      return conversionsTables(report.view);
    case "dropoffs":
      return dropOffTables(report.view);
    case "revenue":
      return revenueTables(report.view);
  }
}

function overviewTables(v: OverviewView): Table[] {
  return [
    {
      title: "Summary",
      columns: summaryColumns,
      rows: metric([
        ["visitors.total", v.visitors.total],
        ["visitors.unique", v.visitors.unique],
        ["visitors.new", v.visitors.new],
        ["visitors.returning", v.visitors.returning],
        ["conversions.total", v.conversions.total],
        ["conversions.rate", v.conversions.rate],
        ["conversions.value_cents", v.conversions.value_cents],
        ["revenue.total_cents", v.revenue.total_cents],
        ["revenue.per_visitor_cents", v.revenue.per_visitor_cents],
        ["revenue.per_conversion_cents", v.revenue.per_conversion_cents],
      ]),
    },
    {
      title: "Steps",
      columns: [
        col("step_id", "text"),
        col("step_name", "text"),
        col("step_type", "text"),
        col("visitors", "integer"),
        col("entries", "integer"),
        col("exits", "integer"),
        col("drop_offs", "integer"),
        col("drop_off_rate", "rate"),
        col("avg_time_seconds", "integer"),
        col("conversion_rate", "rate"),
      ],
      rows: v.steps.map((s) => [
        s.step_id,
        s.step_name,
        s.step_type,
        s.visitors,
        s.entries,
        s.exits,
        s.drop_offs,
        s.drop_off_rate,
        s.avg_time_seconds,
        s.conversion_rate,
      ]),
    },
  ];
}

function conversionsTables(v: ConversionsView): Table[] {
  return [
    {
      title: "Summary",
      columns: summaryColumns,
      rows: metric([
        ["total_conversions", v.summary.total_conversions],
        ["conversion_rate", v.summary.conversion_rate],
        ["total_value_cents", v.summary.total_value_cents],
        ["avg_value_cents", v.summary.avg_value_cents],
      ]),
    },
    {
      title: "By type",
      columns: [
        col("conversion_type", "text"),
        col("count", "integer"),
        col("rate", "rate"),
        col("value_cents", "integer"),
      ],
      rows: v.by_type.map((t) => [t.conversion_type, t.count, t.rate, t.value_cents]),
    },
    {
      title: "By step",
      columns: [
        col("step_id", "text"),
        col("step_name", "text"),
        col("conversions", "integer"),
        col("conversion_rate", "rate"),
      ],
      rows: v.by_step.map((s) => [s.step_id, s.step_name, s.conversions, s.conversion_rate]),
    },
    {
      title: "Over time",
      columns: [
        col("timestamp", "timestamp"),
        col("conversions", "integer"),
        col("rate", "rate"),
        col("value_cents", "integer"),
      ],
      rows: v.over_time.map((b) => [b.timestamp, b.conversions, b.rate, b.value_cents]),
    },
    {
      title: "Converting visitors",
      columns: [
        col("visitor_id", "text"),
        col("session_id", "text"),
        col("conversions", "integer"),
        col("total_value_cents", "integer"),
        col("first_conversion_at", "timestamp"),
        col("last_conversion_at", "timestamp"),
      ],
      rows: v.converting_visitors.map((r) => [
        r.visitor_id,
        r.session_id,
        r.conversions,
        r.total_value_cents,
        r.first_conversion_at,
        r.last_conversion_at,
      ]),
    },
  ];
}

function dropOffTables(v: DropOffsView): Table[] {
  return [
    {
      title: "Summary",
      columns: summaryColumns,
      rows: [["overall_drop_off_rate", v.overall_drop_off_rate]],
    },
    {
      title: "Drop-off funnel",
      columns: [
        col("step_id", "text"),
        col("step_name", "text"),
        col("visitors", "integer"),
        col("drop_offs", "integer"),
        col("cumulative_drop_off_rate", "rate"),
      ],
      rows: v.drop_off_funnel.map((s) => [
        s.step_id,
        s.step_name,
        s.visitors,
        s.drop_offs,
        s.cumulative_drop_off_rate,
      ]),
    },
    {
      title: "Steps with drop-off",
      columns: [
        col("step_id", "text"),
        col("step_name", "text"),
        col("drop_offs", "integer"),
        col("drop_off_rate", "rate"),
        col("severity", "text"),
      ],
      rows: v.steps_with_drop_off.map((s) => [
        s.step_id,
        s.step_name,
        s.drop_offs,
        s.drop_off_rate,
        s.severity,
      ]),
    },
    {
      title: "Exit reasons",
      columns: [
        col("step_name", "text"),
        col("reason", "text"),
        col("count", "integer"),
        col("percentage", "rate"),
      ],
      rows: v.steps_with_drop_off.flatMap((s) =>
        s.common_exit_reasons.map((r) => [s.step_name, r.reason, r.count, r.percentage]),
      ),
    },
    {
      title: "Suggestions",
      columns: [col("step_name", "text"), col("suggestion", "text")],
      rows: v.steps_with_drop_off.flatMap((s) => s.suggestions.map((text) => [s.step_name, text])),
    },
  ];
}

function revenueTables(v: RevenueView): Table[] {
  return [
    {
      title: "Summary",
      columns: summaryColumns,
      rows: metric([
        ["total_revenue_cents", v.summary.total_revenue_cents],
        ["revenue_per_visitor_cents", v.summary.revenue_per_visitor_cents],
        ["revenue_per_conversion_cents", v.summary.revenue_per_conversion_cents],
        ["refund_rate", v.summary.refund_rate],
        ["net_revenue_cents", v.summary.net_revenue_cents],
      ]),
    },
    {
      title: "By source",
      columns: [col("source", "text"), col("revenue_cents", "integer"), col("percentage", "rate")],
      rows: v.by_source.map((s) => [s.source, s.revenue_cents, s.percentage]),
    },
    {
      title: "By step",
      columns: [
        col("step_id", "text"),
        col("step_name", "text"),
        col("revenue_cents", "integer"),
        col("orders", "integer"),
        col("avg_order_value_cents", "integer"),
      ],
      rows: v.by_step.map((s) => [
        s.step_id,
        s.step_name,
        s.revenue_cents,
        s.orders,
        s.avg_order_value_cents,
      ]),
    },
    {
      title: "Over time",
      columns: [
        col("timestamp", "timestamp"),
        col("revenue_cents", "integer"),
        col("orders", "integer"),
        col("avg_order_value_cents", "integer"),
      ],
      rows: v.over_time.map((b) => [b.timestamp, b.revenue_cents, b.orders, b.avg_order_value_cents]),
    },
    {
      title: "Top products",
      columns: [
        col("product_id", "text"),
        col("product_name", "text"),
        col("revenue_cents", "integer"),
        col("units_sold", "integer"),
      ],
      rows: v.top_products.map((p) => [p.product_id, p.product_name, p.revenue_cents, p.units_sold]),
    },
  ];
}
