import { rate, roundTo } from "./rounding";
import { holmBonferroni, twoProportionZTest } from "./significance";

/**
 * Suggestions for a step that loses visitors, each built from the step's own figures and quoting
 * them (docs/metrics.md, "Drop-offs"). Nothing is said that the numbers do not show.
 */

export type SegmentDimension = "device" | "browser" | "source";

export interface SegmentFigures {
  dimension: SegmentDimension;
  value: string;
  /** Step visits (entries) of the segment. */
  visits: number;
  /** Of those, visits that left the funnel (bounce or close). */
  dropOffs: number;
}

export interface StepInsightInput {
  segments: SegmentFigures[];
  /** Average time of the step, in seconds; null when no visit was exited. */
  avgTimeSeconds: number | null;
  /** Average times of every step of the funnel that has exited visits. */
  funnelAvgTimesSeconds: number[];
  exits: number;
  backwardExits: number;
  /** Exits that left or went back, by reason; `fromMetadata` when the client gave one. */
  reasons: { reason: string; count: number; fromMetadata: boolean }[];
}

export const SEGMENT_MIN_VISITS = 30;
export const SEGMENT_ALPHA = 0.05;
export const SLOW_STEP_FACTOR = 2;
export const BACKWARD_SHARE = 0.2;
export const DOMINANT_REASON_SHARE = 0.5;
export const MIN_EXITS = 5;

export function dropOffSuggestions(input: StepInsightInput): string[] {
  return [
    ...segmentSuggestions(input.segments),
    ...slowStepSuggestion(input),
    ...backwardSuggestion(input),
    ...reasonSuggestion(input),
  ];
}

const percent = (x: number) => `${roundTo(x * 100, 1).toFixed(1)} %`;

function segmentSuggestions(segments: SegmentFigures[]): string[] {
  const totals = new Map<SegmentDimension, { visits: number; dropOffs: number }>();
  for (const s of segments) {
    const t = totals.get(s.dimension) ?? { visits: 0, dropOffs: 0 };
    t.visits += s.visits;
    t.dropOffs += s.dropOffs;
    totals.set(s.dimension, t);
  }
  const tested = segments
    .map((s) => {
      const total = totals.get(s.dimension) ?? { visits: 0, dropOffs: 0 };
      const rest = { successes: total.dropOffs - s.dropOffs, trials: total.visits - s.visits };
      return { s, rest };
    })
    .filter(({ s, rest }) => s.visits >= SEGMENT_MIN_VISITS && rest.trials >= SEGMENT_MIN_VISITS)
    .map(({ s, rest }) => {
      const { z, pValue } = twoProportionZTest(rest, { successes: s.dropOffs, trials: s.visits });
      // One-sided: only a segment that drops off more than the rest is news.
      const oneSided = z > 0 ? pValue / 2 : 1 - pValue / 2;
      return { s, rest, z, p: oneSided };
    });
  const adjusted = holmBonferroni(tested.map((t) => t.p));
  return tested
    .map((t, i) => ({ ...t, adjusted: adjusted[i] ?? 1 }))
    .filter((t) => t.adjusted <= SEGMENT_ALPHA)
    .sort((a, b) => b.z - a.z)
    .map(({ s, rest, z, adjusted: p }) => {
      const who = { device: `on ${s.value}`, browser: `using ${s.value}`, source: `from ${s.value}` }[
        s.dimension
      ];
      const pText = p < 0.001 ? "p < 0.001" : `p = ${roundTo(p, 3)}`;
      return (
        `Visitors ${who} drop off at ${percent(rate(s.dropOffs, s.visits))} on this step against ` +
        `${percent(rate(rest.successes, rest.trials))} for the step's other visits (${s.dropOffs} of ${s.visits} ` +
        `visits; one-sided two-proportion z-test, z = ${roundTo(z, 2)}, ${pText} after Holm–Bonferroni over ` +
        `${tested.length} segments): check this step for visitors ${who}.`
      );
    });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function slowStepSuggestion(input: StepInsightInput): string[] {
  if (input.avgTimeSeconds === null || input.funnelAvgTimesSeconds.length < 2) return [];
  const typical = median(input.funnelAvgTimesSeconds);
  if (typical <= 0 || input.avgTimeSeconds <= SLOW_STEP_FACTOR * typical) return [];
  return [
    `Visitors spend ${input.avgTimeSeconds} s on this step on average, ${roundTo(input.avgTimeSeconds / typical, 1)} ` +
      `times the median of the funnel's steps (${roundTo(typical, 1)} s): shorten or simplify it.`,
  ];
}

function backwardSuggestion(input: StepInsightInput): string[] {
  if (input.backwardExits < MIN_EXITS || input.exits === 0) return [];
  const share = input.backwardExits / input.exits;
  if (share < BACKWARD_SHARE) return [];
  return [
    `${percent(rate(input.backwardExits, input.exits))} of the exits from this step (${input.backwardExits} of ` +
      `${input.exits}) go back to an earlier step: visitors may be missing information they expected here.`,
  ];
}

function reasonSuggestion(input: StepInsightInput): string[] {
  const total = input.reasons.reduce((n, r) => n + r.count, 0);
  const top = input.reasons
    .filter((r) => r.fromMetadata)
    .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1))[0];
  if (!top || top.count < MIN_EXITS || top.count / total < DOMINANT_REASON_SHARE) return [];
  return [
    `"${top.reason}" is the reason given for ${percent(rate(top.count, total))} of the exits that leave the funnel ` +
      `or go back from this step (${top.count} of ${total}): address it on this step.`,
  ];
}
