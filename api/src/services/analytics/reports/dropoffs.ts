import {
  dropOffsBySegment,
  eventCounts,
  exitReasons,
  stepTimes,
  stepVisitors,
} from "@funnel/db/queries/reports";
import { dropOffSuggestions, rate } from "@funnel/metrics";
import type { AccountScope } from "../../../deps";
import {
  cachedReport,
  type Freshness,
  type PeriodView,
  periodView,
  type ReportContext,
  type ReportInput,
} from "./context";
import { stepRows } from "./step-figures";

/** REQ-FUN-004-08: where the funnel loses visitors, and why (docs/metrics.md, "Drop-offs"). */

export type Severity = "low" | "medium" | "high";

export interface DropOffsView {
  funnel_id: string;
  period: PeriodView;
  overall_drop_off_rate: number;
  steps_with_drop_off: {
    step_id: string;
    step_name: string;
    drop_offs: number;
    drop_off_rate: number;
    severity: Severity;
    common_exit_reasons: { reason: string; count: number; percentage: number }[];
    suggestions: string[];
  }[];
  drop_off_funnel: {
    step_id: string;
    step_name: string;
    visitors: number;
    drop_offs: number;
    cumulative_drop_off_rate: number;
  }[];
}

export function severityOf(dropOffRate: number): Severity {
  if (dropOffRate >= 0.5) return "high";
  if (dropOffRate >= 0.25) return "medium";
  return "low";
}

/** 1 − visitors ÷ first step's visitors, kept in [0, 1]. */
function cumulative(visitors: number, first: number): number {
  if (first === 0) return 0;
  return Math.min(1, Math.max(0, rate(first - visitors, first)));
}

export function getDropOffs(
  ctx: ReportContext,
  account: Pick<AccountScope, "accountId">,
  input: Omit<ReportInput, "granularity">,
): Promise<DropOffsView & Freshness> {
  return cachedReport(ctx, account, "dropoffs", input, {}, async ({ funnel, period, scope }) => {
    const { db } = ctx.database;
    const [counts, visitors, times, reasons, segments] = await Promise.all([
      eventCounts(db, scope),
      stepVisitors(db, scope),
      stepTimes(db, scope),
      exitReasons(db, scope),
      dropOffsBySegment(db, scope),
    ]);
    const rows = stepRows(funnel, counts, visitors, times);
    const first = rows[0]?.visitors ?? 0;
    const timed = rows.filter((r) => times.some((t) => t.stepId === r.step_id && t.visits > 0));
    const funnelTimes = timed.map((r) => r.avg_time_seconds);
    return {
      funnel_id: funnel.id,
      period: periodView(period),
      overall_drop_off_rate: cumulative(rows[rows.length - 1]?.visitors ?? 0, first),
      steps_with_drop_off: rows
        .filter((r) => r.drop_offs > 0)
        .map((r) => {
          const stepReasons = reasons.filter((x) => x.stepId === r.step_id);
          const total = stepReasons.reduce((n, x) => n + x.count, 0);
          const exitsBy = (outcome: string) =>
            counts
              .filter(
                (c) => c.stepId === r.step_id && c.eventType === "step_exit" && c.exitOutcome === outcome,
              )
              .reduce((n, c) => n + c.events, 0);
          return {
            step_id: r.step_id,
            step_name: r.step_name,
            drop_offs: r.drop_offs,
            drop_off_rate: r.drop_off_rate,
            severity: severityOf(r.drop_off_rate),
            common_exit_reasons: mergeReasons(stepReasons)
              .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0))
              .map((x) => ({ reason: x.reason, count: x.count, percentage: rate(x.count, total) })),
            suggestions: dropOffSuggestions({
              segments: segments
                .filter((s) => s.stepId === r.step_id)
                .map((s) => ({
                  dimension: s.dimension,
                  value: s.value,
                  visits: s.visits,
                  dropOffs: s.dropOffs,
                })),
              avgTimeSeconds: timed.some((t) => t.step_id === r.step_id) ? r.avg_time_seconds : null,
              funnelAvgTimesSeconds: funnelTimes,
              exits: r.exits,
              backwardExits: exitsBy("backward"),
              reasons: stepReasons,
            }),
          };
        }),
      drop_off_funnel: rows.map((r) => ({
        step_id: r.step_id,
        step_name: r.step_name,
        visitors: r.visitors,
        drop_offs: r.drop_offs,
        cumulative_drop_off_rate: cumulative(r.visitors, first),
      })),
    };
  });
}

/** A metadata reason equal to an outcome's name is one group, not two. */
function mergeReasons(reasons: { reason: string; count: number }[]): { reason: string; count: number }[] {
  const merged = new Map<string, number>();
  for (const r of reasons) merged.set(r.reason, (merged.get(r.reason) ?? 0) + r.count);
  return [...merged.entries()].map(([reason, count]) => ({ reason, count }));
}
