import {
  conversionTotals,
  eventCounts,
  stepTimes,
  stepVisitors,
  visitorTotals,
} from "@funnel/db/queries/reports";
import { averageCents, rate } from "@funnel/metrics";
import type { AccountScope } from "../../../deps";
import {
  cachedReport,
  type Freshness,
  type PeriodView,
  periodView,
  type ReportContext,
  type ReportInput,
} from "./context";
import { type StepRow, stepRows } from "./step-figures";

/** REQ-FUN-004-05: the funnel's overview (docs/metrics.md, "Overview"). */

export interface OverviewView {
  funnel_id: string;
  funnel_name: string;
  period: PeriodView;
  visitors: { total: number; unique: number; new: number; returning: number };
  conversions: { total: number; rate: number; value_cents: number };
  revenue: { total_cents: number; per_visitor_cents: number; per_conversion_cents: number };
  steps: StepRow[];
}

export function getOverview(
  ctx: ReportContext,
  account: Pick<AccountScope, "accountId">,
  input: Omit<ReportInput, "granularity">,
): Promise<OverviewView & Freshness> {
  return cachedReport(ctx, account, "overview", input, {}, async ({ funnel, period, scope }) => {
    const { db } = ctx.database;
    const [visitors, conversions, counts, steps, times] = await Promise.all([
      visitorTotals(db, scope),
      conversionTotals(db, scope),
      eventCounts(db, scope),
      stepVisitors(db, scope),
      stepTimes(db, scope),
    ]);
    const revenue = conversions.valueCents;
    return {
      funnel_id: funnel.id,
      funnel_name: funnel.name,
      period: periodView(period),
      visitors: {
        total: visitors.sessions,
        unique: visitors.unique,
        new: visitors.new,
        returning: visitors.unique - visitors.new,
      },
      conversions: {
        total: conversions.conversions,
        rate: rate(conversions.converters, visitors.unique),
        value_cents: conversions.valueCents,
      },
      revenue: {
        total_cents: revenue,
        per_visitor_cents: averageCents(revenue, visitors.unique),
        per_conversion_cents: averageCents(revenue, conversions.conversions),
      },
      steps: stepRows(funnel, counts, steps, times),
    };
  });
}
