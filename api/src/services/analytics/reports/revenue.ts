import {
  conversionBreakdown,
  refundTotals,
  revenueBySource,
  topProducts,
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

/** REQ-FUN-004-10: revenue (docs/metrics.md, "Revenue"). */

export interface RevenueView {
  funnel_id: string;
  period: PeriodView;
  granularity: Granularity;
  summary: {
    total_revenue_cents: number;
    revenue_per_visitor_cents: number;
    revenue_per_conversion_cents: number;
    refund_rate: number;
    net_revenue_cents: number;
  };
  by_source: { source: string; revenue_cents: number; percentage: number }[];
  by_step: {
    step_id: string;
    step_name: string;
    revenue_cents: number;
    orders: number;
    avg_order_value_cents: number;
  }[];
  over_time: { timestamp: string; revenue_cents: number; orders: number; avg_order_value_cents: number }[];
  top_products: { product_id: string; product_name: string; revenue_cents: number; units_sold: number }[];
}

const TOP_PRODUCTS = 20;

export function getRevenue(
  ctx: ReportContext,
  account: Pick<AccountScope, "accountId">,
  input: ReportInput,
): Promise<RevenueView & Freshness> {
  return cachedReport(
    ctx,
    account,
    "revenue",
    input,
    {},
    async ({ funnel, period, granularity, buckets, scope }) => {
      const { db } = ctx.database;
      const [visitors, conversions, refunds, sources, products] = await Promise.all([
        visitorTotals(db, scope),
        conversionBreakdown(db, scope, buckets, { visitors: false }),
        refundTotals(db, scope),
        revenueBySource(db, scope),
        topProducts(db, scope, TOP_PRODUCTS),
      ]);
      const revenue = conversions.total.orderCents;
      return {
        funnel_id: funnel.id,
        period: periodView(period),
        granularity,
        summary: {
          total_revenue_cents: revenue,
          revenue_per_visitor_cents: averageCents(revenue, visitors.unique),
          revenue_per_conversion_cents: averageCents(revenue, conversions.total.count),
          refund_rate: rate(refunds.refunds, conversions.total.orders),
          net_revenue_cents: revenue - refunds.refundCents,
        },
        by_source: [...sources]
          .sort(
            (a, b) =>
              b.revenueCents - a.revenueCents || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0),
          )
          .map((s) => ({
            source: s.source,
            revenue_cents: s.revenueCents,
            percentage: rate(s.revenueCents, revenue),
          })),
        by_step: funnel.steps.map((step) => {
          const s = conversions.byStep.get(step.id);
          return {
            step_id: step.id,
            step_name: step.name,
            revenue_cents: s?.orderCents ?? 0,
            orders: s?.orders ?? 0,
            avg_order_value_cents: averageCents(s?.orderCents ?? 0, s?.orders ?? 0),
          };
        }),
        over_time: overTime(buckets, (b) => {
          const o = conversions.byBucket.get(b);
          return {
            revenue_cents: o?.orderCents ?? 0,
            orders: o?.orders ?? 0,
            avg_order_value_cents: averageCents(o?.orderCents ?? 0, o?.orders ?? 0),
          };
        }),
        top_products: products.map((p) => ({
          product_id: p.productId,
          product_name: p.productName,
          revenue_cents: p.revenueCents,
          units_sold: p.unitsSold,
        })),
      };
    },
  );
}
