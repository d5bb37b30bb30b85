import type { ConversionsView } from "../services/analytics/reports/conversions";
import type { DropOffsView } from "../services/analytics/reports/dropoffs";
import type { OverviewView } from "../services/analytics/reports/overview";
import type { RevenueView } from "../services/analytics/reports/revenue";
import type { ReportType } from "./jobs";

/**
 * What every export format renders: a report's output as titled tables (one CSV section, one XLSX
 * sheet, one PDF table each) and the charts a PDF may draw. Built from the report services' own
 * views, so an export says exactly what the report route says: the cells keep the route's values
 * (rates as fractions, money in cents, times as ISO instants) and each column says what they are,
 * so that each renderer shows them to people (labels, currency, percentages, dates in the report's
 * time zone; see format.ts).
 */

/**
 * What a column's values are: `rate` a fraction shown as a percentage, `money` minor units (cents)
 * shown in the currency, `date` / `datetime` ISO instants shown in the report's time zone (a
 * bucket of a day or a week as its date), `integer` a count, `number` any other figure.
 */
export type ColumnKind = "text" | "integer" | "rate" | "money" | "number" | "date" | "datetime";

export interface Column {
  /** What a person reads above the column. */
  header: string;
  kind: ColumnKind;
  /** When the rows' values differ in kind (a summary's Value column): the kind of each row's cell. */
  kinds?: ColumnKind[];
  /** Ids kept for programs reading the CSV; spreadsheets and PDFs leave them out. */
  csvOnly?: boolean;
}

export type Cell = string | number | null;

export interface Table {
  title: string;
  columns: Column[];
  rows: Cell[][];
}

/** The kind of one cell: its column's, or the row's own in a column of mixed kinds. */
export function kindOf(column: Column | undefined, row: number): ColumnKind {
  return column?.kinds?.[row] ?? column?.kind ?? "text";
}

export interface LineChart {
  kind: "line";
  title: string;
  /** `money`: values in minor units (cents), drawn in the currency. */
  unit: "count" | "money";
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
  /** The route's period: ISO instants, `end` exclusive, and the time zone of its dates. */
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
const stepId: Column = { header: "Step ID", kind: "text", csvOnly: true };

/** A two-column table of headline figures, each row with its own kind. */
function summary(rows: [label: string, kind: ColumnKind, value: number][]): Table {
  return {
    title: "Summary",
    columns: [
      col("Metric", "text"),
      { header: "Value", kind: "number", kinds: rows.map(([, kind]) => kind) },
    ],
    rows: rows.map(([label, , value]) => [label, value]),
  };
}

/** "form_submit" → "Form submit"; the step types people write otherwise. */
const WORDS: Record<string, string> = { optin: "Opt-in", thankyou: "Thank you", upsell: "Upsell" };
export function humanise(value: string): string {
  const known = WORDS[value];
  if (known) return known;
  const spaced = value.replace(/_/g, " ");
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

/** Buckets of an hour show their time; of a day or a week, their date. */
function bucketColumn(granularity: string): Column {
  if (granularity === "hour") return col("Hour", "datetime");
  return col(granularity === "week" ? "Week starting" : "Day", "date");
}

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
        unit: "count",
        points: report.view.over_time.map((b) => ({ label: b.timestamp, value: b.conversions })),
      };
    case "revenue":
      return {
        kind: "line",
        title: "Revenue over time",
        unit: "money",
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
    summary([
      ["Sessions", "integer", v.visitors.total],
      ["Unique visitors", "integer", v.visitors.unique],
      ["New visitors", "integer", v.visitors.new],
      ["Returning visitors", "integer", v.visitors.returning],
      ["Conversions", "integer", v.conversions.total],
      ["Conversion rate", "rate", v.conversions.rate],
      ["Conversion value", "money", v.conversions.value_cents],
      ["Revenue", "money", v.revenue.total_cents],
      ["Revenue per visitor", "money", v.revenue.per_visitor_cents],
      ["Revenue per conversion", "money", v.revenue.per_conversion_cents],
    ]),
    {
      title: "Steps",
      columns: [
        col("Step", "text"),
        col("Type", "text"),
        col("Visitors", "integer"),
        col("Entries", "integer"),
        col("Exits", "integer"),
        col("Drop-offs", "integer"),
        col("Drop-off rate", "rate"),
        col("Avg. time on step (s)", "integer"),
        col("Conversion rate", "rate"),
        stepId,
      ],
      rows: v.steps.map((s) => [
        s.step_name,
        humanise(s.step_type),
        s.visitors,
        s.entries,
        s.exits,
        s.drop_offs,
        s.drop_off_rate,
        s.avg_time_seconds,
        s.conversion_rate,
        s.step_id,
      ]),
    },
  ];
}

function conversionsTables(v: ConversionsView): Table[] {
  return [
    summary([
      ["Conversions", "integer", v.summary.total_conversions],
      ["Conversion rate", "rate", v.summary.conversion_rate],
      ["Total value", "money", v.summary.total_value_cents],
      ["Average value", "money", v.summary.avg_value_cents],
    ]),
    {
      title: "By type",
      columns: [
        col("Conversion type", "text"),
        col("Conversions", "integer"),
        col("Rate", "rate"),
        col("Value", "money"),
      ],
      rows: v.by_type.map((t) => [humanise(t.conversion_type), t.count, t.rate, t.value_cents]),
    },
    {
      title: "By step",
      columns: [col("Step", "text"), col("Conversions", "integer"), col("Conversion rate", "rate"), stepId],
      rows: v.by_step.map((s) => [s.step_name, s.conversions, s.conversion_rate, s.step_id]),
    },
    {
      title: "Over time",
      columns: [
        bucketColumn(v.granularity),
        col("Conversions", "integer"),
        col("Conversion rate", "rate"),
        col("Value", "money"),
      ],
      rows: v.over_time.map((b) => [b.timestamp, b.conversions, b.rate, b.value_cents]),
    },
    {
      title: "Converting visitors",
      columns: [
        col("Visitor ID", "text"),
        col("Session ID", "text"),
        col("Conversions", "integer"),
        col("Total value", "money"),
        col("First conversion", "datetime"),
        col("Last conversion", "datetime"),
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
    summary([["Overall drop-off rate", "rate", v.overall_drop_off_rate]]),
    {
      title: "Drop-off funnel",
      columns: [
        col("Step", "text"),
        col("Visitors", "integer"),
        col("Drop-offs", "integer"),
        col("Cumulative drop-off rate", "rate"),
        stepId,
      ],
      rows: v.drop_off_funnel.map((s) => [
        s.step_name,
        s.visitors,
        s.drop_offs,
        s.cumulative_drop_off_rate,
        s.step_id,
      ]),
    },
    {
      title: "Steps with drop-off",
      columns: [
        col("Step", "text"),
        col("Drop-offs", "integer"),
        col("Drop-off rate", "rate"),
        col("Severity", "text"),
        stepId,
      ],
      rows: v.steps_with_drop_off.map((s) => [
        s.step_name,
        s.drop_offs,
        s.drop_off_rate,
        humanise(s.severity),
        s.step_id,
      ]),
    },
    {
      title: "Exit reasons",
      columns: [col("Step", "text"), col("Reason", "text"), col("Exits", "integer"), col("Share", "rate")],
      rows: v.steps_with_drop_off.flatMap((s) =>
        s.common_exit_reasons.map((r) => [s.step_name, r.reason, r.count, r.percentage]),
      ),
    },
    {
      title: "Suggestions",
      columns: [col("Step", "text"), col("Suggestion", "text")],
      rows: v.steps_with_drop_off.flatMap((s) => s.suggestions.map((text) => [s.step_name, text])),
    },
  ];
}

function revenueTables(v: RevenueView): Table[] {
  return [
    summary([
      ["Revenue", "money", v.summary.total_revenue_cents],
      ["Revenue per visitor", "money", v.summary.revenue_per_visitor_cents],
      ["Revenue per conversion", "money", v.summary.revenue_per_conversion_cents],
      ["Refund rate", "rate", v.summary.refund_rate],
      ["Net revenue", "money", v.summary.net_revenue_cents],
    ]),
    {
      title: "By source",
      columns: [col("Source", "text"), col("Revenue", "money"), col("Share", "rate")],
      rows: v.by_source.map((s) => [s.source, s.revenue_cents, s.percentage]),
    },
    {
      title: "By step",
      columns: [
        col("Step", "text"),
        col("Revenue", "money"),
        col("Orders", "integer"),
        col("Avg. order value", "money"),
        stepId,
      ],
      rows: v.by_step.map((s) => [
        s.step_name,
        s.revenue_cents,
        s.orders,
        s.avg_order_value_cents,
        s.step_id,
      ]),
    },
    {
      title: "Over time",
      columns: [
        bucketColumn(v.granularity),
        col("Revenue", "money"),
        col("Orders", "integer"),
        col("Avg. order value", "money"),
      ],
      rows: v.over_time.map((b) => [b.timestamp, b.revenue_cents, b.orders, b.avg_order_value_cents]),
    },
    {
      title: "Top products",
      columns: [
        col("Product", "text"),
        col("Product ID", "text"),
        col("Revenue", "money"),
        col("Units sold", "integer"),
      ],
      rows: v.top_products.map((p) => [p.product_name, p.product_id, p.revenue_cents, p.units_sold]),
    },
  ];
}
