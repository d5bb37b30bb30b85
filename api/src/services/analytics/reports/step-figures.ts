import type { FunnelRecord } from "@funnel/db/queries/catalog";
import type { EventCount, StepTimes, StepVisitorFigures } from "@funnel/db/queries/reports";
import { rate } from "@funnel/metrics";
import { seconds } from "./context";

/** The per-step row of the overview (docs/metrics.md), shared by the step and drop-off reports. */
export interface StepRow {
  step_id: string;
  step_name: string;
  step_type: string;
  visitors: number;
  entries: number;
  exits: number;
  drop_offs: number;
  drop_off_rate: number;
  avg_time_seconds: number;
  conversion_rate: number;
}

export const LEAVES_FUNNEL = new Set(["bounce", "close"]);

export function stepRows(
  funnel: FunnelRecord,
  counts: EventCount[],
  visitors: StepVisitorFigures[],
  times: StepTimes[],
): StepRow[] {
  const last = funnel.steps[funnel.steps.length - 1]?.id;
  return funnel.steps.map((step) => {
    let entries = 0;
    let exits = 0;
    let dropOffs = 0;
    for (const c of counts) {
      if (c.stepId !== step.id) continue;
      if (c.eventType === "step_entry") entries += c.events;
      if (c.eventType === "step_exit") {
        exits += c.events;
        // Leaving from the last step is finishing the funnel, not dropping off.
        if (LEAVES_FUNNEL.has(c.exitOutcome) && step.id !== last) dropOffs += c.events;
      }
    }
    const v = visitors.find((x) => x.stepId === step.id);
    let visits = 0;
    let totalMs = 0;
    for (const t of times) {
      if (t.stepId !== step.id) continue;
      visits += t.visits;
      totalMs += t.totalMs;
    }
    return {
      step_id: step.id,
      step_name: step.name,
      step_type: step.stepType,
      visitors: v?.visitors ?? 0,
      entries,
      exits,
      drop_offs: dropOffs,
      drop_off_rate: rate(dropOffs, entries),
      avg_time_seconds: visits === 0 ? 0 : seconds(totalMs / visits),
      conversion_rate: rate(v?.converted ?? 0, v?.visitors ?? 0),
    };
  });
}
