import {
  type Dimension,
  eventCounts,
  medianStepTimeMs,
  stepPaths,
  stepTimes,
  stepVisitors,
  stepVisitorsByBucket,
  stepVisitorsBySegment,
} from "@funnel/db/queries/reports";
import { type Granularity, rate } from "@funnel/metrics";
import type { AccountScope } from "../../../deps";
import { NotFoundError } from "../../../errors";
import {
  cachedReport,
  type Freshness,
  overTime,
  type PeriodView,
  periodView,
  type ReportContext,
  type ReportInput,
  seconds,
} from "./context";
import { LEAVES_FUNNEL, stepRows } from "./step-figures";

/** REQ-FUN-004-06: one step in detail (docs/metrics.md, "Step analytics"). */

export interface StepView {
  funnel_id: string;
  step_id: string;
  step_name: string;
  step_type: string;
  period: PeriodView;
  granularity: Granularity;
  summary: {
    visitors: number;
    unique_visitors: number;
    entries: number;
    exits: number;
    drop_offs: number;
    drop_off_rate: number;
    avg_time_seconds: number;
    median_time_seconds: number;
    conversion_rate: number;
  };
  over_time: {
    timestamp: string;
    visitors: number;
    entries: number;
    exits: number;
    drop_off_rate: number;
    avg_time_seconds: number;
  }[];
  traffic_sources: { source: string; visitors: number; percentage: number }[];
  devices: { device_type: string; visitors: number; percentage: number }[];
  browsers: { browser: string; visitors: number; percentage: number }[];
  entry_paths: { previous_step_id: string | null; count: number }[];
  exit_paths: { next_step_id: string | null; count: number }[];
}

const TOP = 10;

export function getStepReport(
  ctx: ReportContext,
  account: Pick<AccountScope, "accountId">,
  input: ReportInput & { stepId: string },
): Promise<StepView & Freshness> {
  return cachedReport(ctx, account, "step", input, { step: input.stepId }, async (report) => {
    const { funnel, period, granularity, buckets, scope } = report;
    const step = funnel.steps.find((s) => s.id === input.stepId);
    if (!step) throw new NotFoundError("step");
    const { db } = ctx.database;
    const isLast = funnel.steps[funnel.steps.length - 1]?.id === step.id;
    const [counts, visitors, times, median, byBucket, bucketCounts, bucketTimes, segments, entries, exits] =
      await Promise.all([
        eventCounts(db, scope, { stepId: step.id }),
        stepVisitors(db, scope, step.id),
        stepTimes(db, scope, { stepId: step.id }),
        medianStepTimeMs(db, scope, step.id),
        stepVisitorsByBucket(db, scope, step.id, buckets),
        eventCounts(db, scope, { stepId: step.id, buckets }),
        stepTimes(db, scope, { stepId: step.id, buckets }),
        stepVisitorsBySegment(db, scope, step.id),
        stepPaths(db, scope, step.id, "entry"),
        stepPaths(db, scope, step.id, "exit"),
      ]);
    const [row] = stepRows(funnel, counts, visitors, times).filter((r) => r.step_id === step.id);
    if (!row) throw new NotFoundError("step");
    const share = (dimension: Dimension) =>
      top(
        segments.filter((s) => s.dimension === dimension),
        row.visitors,
      );
    return {
      funnel_id: funnel.id,
      step_id: step.id,
      step_name: step.name,
      step_type: step.stepType,
      period: periodView(period),
      granularity,
      summary: {
        visitors: row.visitors,
        unique_visitors: row.visitors,
        entries: row.entries,
        exits: row.exits,
        drop_offs: row.drop_offs,
        drop_off_rate: row.drop_off_rate,
        avg_time_seconds: row.avg_time_seconds,
        median_time_seconds: seconds(median),
        conversion_rate: row.conversion_rate,
      },
      over_time: overTime(buckets, (b) => {
        let entered = 0;
        let exited = 0;
        let dropped = 0;
        for (const c of bucketCounts) {
          if (c.bucket !== b) continue;
          if (c.eventType === "step_entry") entered += c.events;
          if (c.eventType === "step_exit") {
            exited += c.events;
            if (LEAVES_FUNNEL.has(c.exitOutcome) && !isLast) dropped += c.events;
          }
        }
        const t = bucketTimes.find((x) => x.bucket === b);
        return {
          visitors: byBucket.get(b) ?? 0,
          entries: entered,
          exits: exited,
          drop_off_rate: rate(dropped, entered),
          avg_time_seconds: t && t.visits > 0 ? seconds(t.totalMs / t.visits) : 0,
        };
      }),
      traffic_sources: share("source").map(({ value, ...r }) => ({ source: value, ...r })),
      devices: share("device").map(({ value, ...r }) => ({ device_type: value, ...r })),
      browsers: share("browser").map(({ value, ...r }) => ({ browser: value, ...r })),
      entry_paths: paths(entries).map((p) => ({ previous_step_id: p.stepId, count: p.count })),
      exit_paths: paths(exits).map((p) => ({ next_step_id: p.stepId, count: p.count })),
    };
  });
}

/** The top segments by visitors (ties by name), with their share of the step's visitors. */
function top(list: { value: string; visitors: number }[], total: number) {
  return [...list]
    .sort((a, b) => b.visitors - a.visitors || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
    .slice(0, TOP)
    .map((s) => ({ value: s.value, visitors: s.visitors, percentage: rate(s.visitors, total) }));
}

/** Most frequent first; ties: null (direct entry, or leaving) first, then by id. */
function paths(list: { stepId: string | null; count: number }[]) {
  return [...list].sort(
    (a, b) =>
      b.count - a.count ||
      (a.stepId === null
        ? -1
        : b.stepId === null
          ? 1
          : a.stepId < b.stepId
            ? -1
            : a.stepId > b.stepId
              ? 1
              : 0),
  );
}
