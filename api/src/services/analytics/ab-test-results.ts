import { abTestVariantFigures } from "@funnel/db/queries/ab-tests";
import { type AbTestRecord, getFunnel, listAbTests } from "@funnel/db/queries/catalog";
import { type AbTestVerdict, analyzeAbTest, SRM_THRESHOLD, type VariantTotals } from "@funnel/metrics";
import type { AccountScope, Deps } from "../../deps";
import { NotFoundError } from "../../errors";
import { type AbTestStatus, toAbTestView } from "../catalog/views";
import { periodOf } from "./reports/context";

/**
 * A/B test results of a funnel (REQ-FUN-004-09, METRICS.md "A/B tests"): raw figures per variant
 * from the events (db/queries/ab-tests.ts), the verdict from @funnel/metrics.
 */

export type AbTestResultsContext = Pick<Deps, "database">;

export interface AbTestResultsInput {
  funnelId: string;
  testId?: string | undefined;
  date_from?: string | undefined;
  date_to?: string | undefined;
  tz?: string | undefined;
}

export interface AbTestResultsView {
  funnel_id: string;
  period: { start: string; end: string; time_zone: string };
  tests: AbTestResultView[];
}

export interface AbTestResultView {
  test_id: string;
  test_name: string;
  status: AbTestStatus;
  started_at: string;
  completed_at: string | null;
  /** The part of the period the test ran in; null when they do not overlap. */
  window: { start: string; end: string } | null;
  variants: AbVariantResultView[];
  winner: { variant_id: string; reason: string } | null;
  conclusion: string;
  sample_ratio_mismatch: {
    detected: boolean;
    chi_square: number | null;
    degrees_of_freedom: number;
    p_value: number;
    threshold: number;
  };
}

export interface AbVariantResultView {
  variant_id: string;
  variant_name: string;
  is_control: boolean;
  traffic_split: number;
  expected_visitors: number;
  visitors: number;
  conversions: number;
  conversion_rate: number;
  revenue_cents: number;
  avg_revenue_per_visitor_cents: number;
  improvement_vs_control: number | null;
  confidence: number | null;
  p_value: number | null;
  confidence_adjusted: number | null;
  significant: boolean;
  revenue_per_visitor: {
    mean_cents: number;
    improvement_vs_control: number | null;
    confidence: number | null;
    p_value: number | null;
  };
}

export async function getAbTestResults(
  ctx: AbTestResultsContext,
  scope: Pick<AccountScope, "accountId">,
  input: AbTestResultsInput,
): Promise<AbTestResultsView> {
  const period = periodOf(input);
  const { db } = ctx.database;
  const funnel = await getFunnel(db, scope.accountId, input.funnelId);
  if (!funnel) throw new NotFoundError("funnel");
  let tests = await listAbTests(db, scope.accountId, { funnelId: funnel.id });
  if (input.testId !== undefined) {
    tests = tests.filter((t) => t.id === input.testId);
    if (tests.length === 0) throw new NotFoundError("A/B test");
  }
  const results: AbTestResultView[] = [];
  for (const test of tests) {
    const start = maxDate(period.start, test.startedAt);
    const end = test.completedAt ? minDate(period.end, test.completedAt) : period.end;
    const figures =
      start < end
        ? await abTestVariantFigures(db, scope.accountId, {
            funnelId: funnel.id,
            variants: test.variants.map((v) => ({ id: v.id, pageId: v.pageId })),
            start,
            end,
          })
        : [];
    results.push(toResultView(test, start < end ? { start, end } : null, figures));
  }
  return {
    funnel_id: funnel.id,
    period: { start: period.start.toISOString(), end: period.end.toISOString(), time_zone: period.timeZone },
    tests: results,
  };
}

function toResultView(
  test: AbTestRecord,
  window: { start: Date; end: Date } | null,
  figures: Awaited<ReturnType<typeof abTestVariantFigures>>,
): AbTestResultView {
  const byVariant = new Map(figures.map((f) => [f.variantId, f]));
  const totals: VariantTotals[] = test.variants.map((v) => {
    const f = byVariant.get(v.id);
    return {
      id: v.id,
      name: v.variantName,
      isControl: v.isControl,
      trafficSplit: v.trafficSplit,
      visitors: f?.visitors ?? 0,
      conversions: f?.conversions ?? 0,
      revenueCents: f?.revenueCents ?? 0,
      revenueSumOfSquares: f?.revenueSumOfSquares ?? 0,
    };
  });
  const verdict: AbTestVerdict = analyzeAbTest(totals);
  const view = toAbTestView(test);
  return {
    test_id: view.id,
    test_name: view.test_name,
    status: view.status,
    started_at: view.started_at,
    completed_at: view.completed_at,
    window: window && { start: window.start.toISOString(), end: window.end.toISOString() },
    variants: verdict.variants.map((v, i) => ({
      variant_id: v.id,
      variant_name: v.name,
      is_control: v.isControl,
      traffic_split: totals[i]?.trafficSplit ?? 0,
      expected_visitors: verdict.sampleRatio.expectedVisitors[i] ?? 0,
      visitors: v.visitors,
      conversions: v.conversions,
      conversion_rate: v.conversionRate,
      revenue_cents: v.revenueCents,
      avg_revenue_per_visitor_cents: v.avgRevenuePerVisitorCents,
      improvement_vs_control: v.improvementVsControl,
      confidence: v.confidence,
      p_value: v.pValue,
      confidence_adjusted: v.adjustedConfidence,
      significant: v.significant,
      revenue_per_visitor: {
        mean_cents: v.revenuePerVisitor.meanCents,
        improvement_vs_control: v.revenuePerVisitor.improvementVsControl,
        confidence: v.revenuePerVisitor.confidence,
        p_value: v.revenuePerVisitor.pValue,
      },
    })),
    winner: verdict.winner && { variant_id: verdict.winner.variantId, reason: verdict.winner.reason },
    conclusion: verdict.conclusion,
    sample_ratio_mismatch: {
      detected: verdict.sampleRatio.mismatch,
      chi_square: Number.isFinite(verdict.sampleRatio.chiSquare) ? verdict.sampleRatio.chiSquare : null,
      degrees_of_freedom: verdict.sampleRatio.degreesOfFreedom,
      p_value: verdict.sampleRatio.pValue,
      threshold: SRM_THRESHOLD,
    },
  };
}

const maxDate = (a: Date, b: Date) => (a > b ? a : b);
const minDate = (a: Date, b: Date) => (a < b ? a : b);
