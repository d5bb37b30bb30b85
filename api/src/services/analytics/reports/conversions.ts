import {
  conversionBreakdown,
  convertingVisitors,
  stepVisitors,
  visitorsByBucket,
  visitorTotals,
} from "@funnel/db/queries/reports";
import { averageCents, type Granularity, rate } from "@funnel/metrics";
import type { AccountScope } from "../../../deps";
import {
  cachedReport,
  type Freshness,
  overTime,
  type PeriodView,
  periodView,
  type ReportContext,
  type ReportInput,
} from "./context";

/** REQ-FUN-004-07: conversions (docs/metrics.md, "Conversions"). */

export const CONVERSION_TYPES = ["form_submit", "purchase", "signup", "custom"] as const;

export interface ConversionsView {
  funnel_id: string;
  period: PeriodView;
  granularity: Granularity;
  summary: {
    total_conversions: number;
    conversion_rate: number;
    total_value_cents: number;
    avg_value_cents: number;
  };
  by_type: {
    conversion_type: (typeof CONVERSION_TYPES)[number];
    count: number;
    rate: number;
    value_cents: number;
  }[];
  by_step: { step_id: string; step_name: string; conversions: number; conversion_rate: number }[];
  over_time: { timestamp: string; conversions: number; rate: number; value_cents: number }[];
  converting_visitors: {
    visitor_id: string;
    session_id: string;
    conversions: number;
    total_value_cents: number;
    first_conversion_at: string;
    last_conversion_at: string;
  }[];
  pagination: { page: number; page_size: number; total: number };
}

export function getConversions(
  ctx: ReportContext,
  account: Pick<AccountScope, "accountId">,
  input: ReportInput & { page: number; pageSize: number },
): Promise<ConversionsView & Freshness> {
  const key = { page: input.page, page_size: input.pageSize };
  return cachedReport(
    ctx,
    account,
    "conversions",
    input,
    key,
    async ({ funnel, period, granularity, buckets, scope }) => {
      const { db } = ctx.database;
      const [visitors, breakdown, steps, visitorsPerBucket, page] = await Promise.all([
        visitorTotals(db, scope),
        conversionBreakdown(db, scope, buckets, { visitors: true }),
        stepVisitors(db, scope),
        visitorsByBucket(db, scope, buckets),
        convertingVisitors(db, scope, { offset: (input.page - 1) * input.pageSize, limit: input.pageSize }),
      ]);
      const totals = breakdown.total;
      return {
        funnel_id: funnel.id,
        period: periodView(period),
        granularity,
        summary: {
          total_conversions: totals.count,
          conversion_rate: rate(totals.visitors, visitors.unique),
          total_value_cents: totals.valueCents,
          avg_value_cents: averageCents(totals.valueCents, totals.valued),
        },
        by_type: CONVERSION_TYPES.map((type) => {
          const t = breakdown.byType.get(type);
          return {
            conversion_type: type,
            count: t?.count ?? 0,
            rate: rate(t?.visitors ?? 0, visitors.unique),
            value_cents: t?.valueCents ?? 0,
          };
        }),
        by_step: funnel.steps.map((step) => {
          const s = breakdown.byStep.get(step.id);
          return {
            step_id: step.id,
            step_name: step.name,
            conversions: s?.count ?? 0,
            conversion_rate: rate(s?.visitors ?? 0, steps.find((x) => x.stepId === step.id)?.visitors ?? 0),
          };
        }),
        over_time: overTime(buckets, (b) => {
          const c = breakdown.byBucket.get(b);
          return {
            conversions: c?.count ?? 0,
            rate: rate(c?.visitors ?? 0, visitorsPerBucket.get(b) ?? 0),
            value_cents: c?.valueCents ?? 0,
          };
        }),
        converting_visitors: page.rows.map((r) => ({
          visitor_id: r.visitorId,
          session_id: r.sessionId,
          conversions: r.conversions,
          total_value_cents: r.valueCents,
          first_conversion_at: r.first.toISOString(),
          last_conversion_at: r.last.toISOString(),
        })),
        pagination: { page: input.page, page_size: input.pageSize, total: page.total },
      };
    },
  );
}
