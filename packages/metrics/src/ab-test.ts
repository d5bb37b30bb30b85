import { averageCents, rate, ratio, roundTo } from "./rounding";
import {
  chiSquareGoodnessOfFit,
  holmBonferroni,
  type SampleSummary,
  sampleMean,
  twoProportionZTest,
  welchTTest,
} from "./significance";

/**
 * The A/B test verdict (METRICS.md, "A/B tests") from per-variant totals:
 * - conversion: two-sided two-proportion z-test of each challenger against the control;
 *   `confidence` = 1 − p; Holm–Bonferroni over the test's challengers decides significance;
 * - winner: the challenger significant at 95 % after correction whose rate beats every other
 *   variant's; the control when every challenger is significantly worse; else none;
 * - revenue per visitor: Welch's t-test against the control, so a variant that converts more but
 *   earns less shows;
 * - sample-ratio mismatch: chi-square of exposed visitors against `traffic_split`, flagged at
 *   p < 0.001. A broken split invalidates the comparison, so no winner is declared then.
 */

export const SIGNIFICANCE_LEVEL = 0.05;
export const SRM_THRESHOLD = 0.001;

export interface VariantTotals {
  id: string;
  name: string;
  isControl: boolean;
  /** Percent of traffic the test meant to send here. */
  trafficSplit: number;
  /** Exposed distinct visitors. */
  visitors: number;
  /** Exposed visitors with a conversion after their first exposure. */
  conversions: number;
  /** Sum of those conversions' values. */
  revenueCents: number;
  /** Σ over exposed visitors of (their revenue)², non-converters counting 0: for the t-test. */
  revenueSumOfSquares: number;
}

export interface VariantVerdict {
  id: string;
  name: string;
  isControl: boolean;
  visitors: number;
  conversions: number;
  conversionRate: number;
  revenueCents: number;
  avgRevenuePerVisitorCents: number;
  /** (rate − control rate) ÷ control rate; null for the control or a zero control rate. */
  improvementVsControl: number | null;
  /** 1 − p of the z-test against the control; null for the control. */
  confidence: number | null;
  pValue: number | null;
  z: number | null;
  /** 1 − Holm-adjusted p; null for the control. */
  adjustedConfidence: number | null;
  /** Adjusted confidence ≥ 0.95. */
  significant: boolean;
  revenuePerVisitor: {
    /** Mean revenue per exposed visitor in cents, 2 decimals. */
    meanCents: number;
    improvementVsControl: number | null;
    /** 1 − p of Welch's t-test against the control; null for the control. */
    confidence: number | null;
    pValue: number | null;
    t: number | null;
    degreesOfFreedom: number | null;
  };
}

export interface SampleRatioCheck {
  /** p < 0.001: the split is broken and the comparison is not valid. */
  mismatch: boolean;
  chiSquare: number;
  degreesOfFreedom: number;
  pValue: number;
  /** Visitors each variant should have had under its traffic_split, in the variants' order. */
  expectedVisitors: number[];
}

export interface AbTestVerdict {
  variants: VariantVerdict[];
  winner: { variantId: string; reason: string } | null;
  /** One sentence on the outcome, with or without a winner. */
  conclusion: string;
  sampleRatio: SampleRatioCheck;
}

const conversionRate = (v: VariantTotals) => (v.visitors === 0 ? 0 : v.conversions / v.visitors);
const revenueSample = (v: VariantTotals): SampleSummary => ({
  n: v.visitors,
  sum: v.revenueCents,
  sumOfSquares: v.revenueSumOfSquares,
});
const confidenceOf = (p: number) => roundTo(1 - p, 4);

export function analyzeAbTest(variants: VariantTotals[]): AbTestVerdict {
  const control = variants.find((v) => v.isControl);
  const challengers = variants.filter((v) => v !== control);
  const tests = new Map(
    challengers.map((v) => [
      v.id,
      {
        conversion: control ? twoProportionZTest(asProportion(control), asProportion(v)) : null,
        revenue: control ? welchTTest(revenueSample(control), revenueSample(v)) : null,
      },
    ]),
  );
  const adjusted = holmBonferroni(challengers.map((v) => tests.get(v.id)?.conversion?.pValue ?? 1));
  const adjustedP = new Map(challengers.map((v, i) => [v.id, adjusted[i] ?? 1]));

  const verdicts: VariantVerdict[] = variants.map((v) => {
    const test = tests.get(v.id);
    const conversion = test?.conversion ?? null;
    const revenue = test?.revenue ?? null;
    const p = adjustedP.get(v.id);
    const controlRate = control ? conversionRate(control) : 0;
    const controlMean = control ? sampleMean(revenueSample(control)) : 0;
    const isChallenger = control !== undefined && v !== control;
    return {
      id: v.id,
      name: v.name,
      isControl: v.isControl,
      visitors: v.visitors,
      conversions: v.conversions,
      conversionRate: rate(v.conversions, v.visitors),
      revenueCents: v.revenueCents,
      avgRevenuePerVisitorCents: averageCents(v.revenueCents, v.visitors),
      improvementVsControl: isChallenger ? ratio(conversionRate(v) - controlRate, controlRate) : null,
      confidence: conversion ? confidenceOf(conversion.pValue) : null,
      pValue: conversion ? conversion.pValue : null,
      z: conversion ? conversion.z : null,
      adjustedConfidence: p === undefined || !conversion ? null : confidenceOf(p),
      significant: p !== undefined && conversion !== null && p <= SIGNIFICANCE_LEVEL,
      revenuePerVisitor: {
        meanCents: roundTo(sampleMean(revenueSample(v)), 2),
        improvementVsControl: isChallenger
          ? ratio(sampleMean(revenueSample(v)) - controlMean, controlMean)
          : null,
        confidence: revenue ? confidenceOf(revenue.pValue) : null,
        pValue: revenue ? revenue.pValue : null,
        t: revenue ? revenue.t : null,
        degreesOfFreedom: revenue ? revenue.degreesOfFreedom : null,
      },
    };
  });

  const sampleRatio = sampleRatioCheck(variants);
  const { winner, conclusion } = decide(verdicts, variants, adjustedP, sampleRatio);
  return { variants: verdicts, winner, conclusion, sampleRatio };
}

function asProportion(v: VariantTotals) {
  return { successes: v.conversions, trials: v.visitors };
}

export function sampleRatioCheck(variants: VariantTotals[]): SampleRatioCheck {
  const observed = variants.map((v) => v.visitors);
  const shares = variants.map((v) => v.trafficSplit);
  const result = chiSquareGoodnessOfFit(observed, shares);
  const total = observed.reduce((s, o) => s + o, 0);
  const weight = shares.reduce((s, w) => s + w, 0);
  return {
    mismatch: result.pValue < SRM_THRESHOLD,
    chiSquare: roundTo(result.chiSquare, 4),
    degreesOfFreedom: result.degreesOfFreedom,
    pValue: result.pValue,
    expectedVisitors: shares.map((w) => (weight === 0 ? 0 : roundTo((total * w) / weight, 2))),
  };
}

function decide(
  verdicts: VariantVerdict[],
  totals: VariantTotals[],
  adjustedP: Map<string, number>,
  sampleRatio: SampleRatioCheck,
): { winner: AbTestVerdict["winner"]; conclusion: string } {
  const control = verdicts.find((v) => v.isControl);
  const challengers = verdicts.filter((v) => !v.isControl);
  const rates = new Map(totals.map((t) => [t.id, conversionRate(t)]));
  const rateOf = (v: VariantVerdict) => rates.get(v.id) ?? 0;
  if (!control || challengers.length === 0) {
    return { winner: null, conclusion: "No winner: the test needs a control and at least one challenger." };
  }
  if (sampleRatio.mismatch) {
    const split = totals.map((t) => `${t.trafficSplit}`).join("/");
    const seen = totals.map((t) => count(t.visitors)).join(" / ");
    return {
      winner: null,
      conclusion:
        `No winner: sample ratio mismatch. Visitors ${seen} do not fit the ${split} split ` +
        `(chi-square ${fixed(sampleRatio.chiSquare, 2)}, p ${pText(sampleRatio.pValue)} < ${SRM_THRESHOLD}); ` +
        "the assignment or tracking is broken, so the comparison is not valid.",
    };
  }
  const m = challengers.length;
  const correction = `after Holm–Bonferroni over ${m} challenger${m === 1 ? "" : "s"}`;

  const best = challengers.find(
    (v) =>
      v.significant && rateOf(v) > rateOf(control) && verdicts.every((o) => o === v || rateOf(v) > rateOf(o)),
  );
  if (best) {
    const reason =
      `${best.name} converts at ${percent(rateOf(best))} against ${percent(rateOf(control))} for ` +
      `${control.name} (${signedPercent(best.improvementVsControl)}), ${count(best.visitors)} and ` +
      `${count(control.visitors)} visitors; confidence ${percent(1 - (best.pValue ?? 1))}, ` +
      `${percent(1 - (adjustedP.get(best.id) ?? 1))} ${correction}, at least 95 %.` +
      revenueCaveat(best, control);
    return { winner: { variantId: best.id, reason }, conclusion: reason };
  }

  if (challengers.every((v) => v.significant && rateOf(v) < rateOf(control))) {
    const losers = challengers
      .map(
        (v) =>
          `${v.name} ${percent(rateOf(v))} (confidence ${percent(1 - (adjustedP.get(v.id) ?? 1))} ${correction})`,
      )
      .join("; ");
    const reason =
      `Every challenger converts significantly worse than ${control.name} at ` +
      `${percent(rateOf(control))} with ${count(control.visitors)} visitors: ${losers}.`;
    return { winner: { variantId: control.id, reason }, conclusion: reason };
  }

  const leader = [...challengers].sort((a, b) => (adjustedP.get(a.id) ?? 1) - (adjustedP.get(b.id) ?? 1))[0];
  if (!leader || control.visitors === 0 || leader.visitors === 0) {
    return { winner: null, conclusion: "No winner: not enough exposed visitors to compare the variants." };
  }
  const why = leader.significant
    ? `it is not ahead of every other variant`
    : `below the 95 % needed ${correction}`;
  return {
    winner: null,
    conclusion:
      `No winner yet: ${leader.name} converts at ${percent(rateOf(leader))} against ` +
      `${percent(rateOf(control))} for ${control.name} (${signedPercent(leader.improvementVsControl)}), ` +
      `confidence ${percent(1 - (adjustedP.get(leader.id) ?? 1))} ${correction}; ${why}.`,
  };
}

/** Flags a conversion winner that earns significantly less per visitor than the control. */
function revenueCaveat(winner: VariantVerdict, control: VariantVerdict): string {
  const r = winner.revenuePerVisitor;
  if (r.pValue === null || r.pValue > SIGNIFICANCE_LEVEL) return "";
  if (r.meanCents >= control.revenuePerVisitor.meanCents) return "";
  return (
    ` But it earns less per visitor: ${fixed(r.meanCents / 100, 2)} against ` +
    `${fixed(control.revenuePerVisitor.meanCents / 100, 2)} (Welch t-test confidence ${percent(1 - r.pValue)}).`
  );
}

function percent(x: number): string {
  return `${fixed(x * 100, 2)} %`;
}

function signedPercent(x: number | null): string {
  if (x === null) return "no lift defined";
  return `${x >= 0 ? "+" : "−"}${fixed(Math.abs(x) * 100, 1)} %`;
}

function fixed(x: number, digits: number): string {
  return roundTo(x, digits).toFixed(digits);
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}

function pText(p: number): string {
  return p < 1e-4 ? p.toExponential(2) : fixed(p, 4);
}
