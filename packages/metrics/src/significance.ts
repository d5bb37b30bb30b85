import { chiSquareSurvival, normalTwoSidedP, studentTTwoSidedP } from "./distributions";

/**
 * The significance tests of the A/B report, on summary figures (counts, sums), so that a query
 * can hand over per-variant totals instead of every visitor. Each returns its statistic and a
 * two-sided p-value; a test that cannot be computed (no data) answers p = 1, "no evidence".
 */

export interface Proportion {
  /** Visitors who converted. */
  successes: number;
  /** Exposed visitors. */
  trials: number;
}

export interface ZTestResult {
  z: number;
  pValue: number;
}

/**
 * Two-sided two-proportion z-test with the pooled proportion under H0 (p₁ = p₂):
 * z = (p̂₂ − p̂₁) / √(p̂(1 − p̂)(1/n₁ + 1/n₂)). Positive z: `variant` converts more than `control`.
 */
export function twoProportionZTest(control: Proportion, variant: Proportion): ZTestResult {
  if (control.trials <= 0 || variant.trials <= 0) return { z: 0, pValue: 1 };
  const p1 = control.successes / control.trials;
  const p2 = variant.successes / variant.trials;
  const pooled = (control.successes + variant.successes) / (control.trials + variant.trials);
  const standardError = Math.sqrt(pooled * (1 - pooled) * (1 / control.trials + 1 / variant.trials));
  // Everyone or no one converted in both groups: the proportions are equal, there is no evidence.
  if (standardError === 0) return { z: 0, pValue: 1 };
  const z = (p2 - p1) / standardError;
  return { z, pValue: normalTwoSidedP(z) };
}

/** A sample summarised by its size, sum and sum of squares (enough for mean and variance). */
export interface SampleSummary {
  n: number;
  sum: number;
  sumOfSquares: number;
}

export function sampleMean(s: SampleSummary): number {
  return s.n === 0 ? 0 : s.sum / s.n;
}

/** Unbiased sample variance (n − 1 in the denominator); 0 below two observations. */
export function sampleVariance(s: SampleSummary): number {
  if (s.n < 2) return 0;
  const mean = s.sum / s.n;
  // Clamped: rounding can leave a tiny negative where every value is equal.
  return Math.max(0, (s.sumOfSquares - s.n * mean * mean) / (s.n - 1));
}

export interface TTestResult {
  t: number;
  degreesOfFreedom: number;
  pValue: number;
}

/**
 * Welch's unequal-variances t-test, two-sided, with Welch–Satterthwaite degrees of freedom.
 * Positive t: `b` has the larger mean.
 */
export function welchTTest(a: SampleSummary, b: SampleSummary): TTestResult {
  if (a.n < 2 || b.n < 2) return { t: 0, degreesOfFreedom: 0, pValue: 1 };
  const va = sampleVariance(a) / a.n;
  const vb = sampleVariance(b) / b.n;
  const difference = sampleMean(b) - sampleMean(a);
  if (va + vb === 0) {
    // Both samples constant: equal means are no evidence, different ones are certain.
    return difference === 0
      ? { t: 0, degreesOfFreedom: a.n + b.n - 2, pValue: 1 }
      : { t: Math.sign(difference) * Number.POSITIVE_INFINITY, degreesOfFreedom: a.n + b.n - 2, pValue: 0 };
  }
  const t = difference / Math.sqrt(va + vb);
  const degreesOfFreedom = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1));
  return { t, degreesOfFreedom, pValue: studentTTwoSidedP(t, degreesOfFreedom) };
}

export interface ChiSquareResult {
  chiSquare: number;
  degreesOfFreedom: number;
  pValue: number;
}

/**
 * Pearson's chi-square goodness-of-fit of observed counts against expected shares (any positive
 * weights; normalised here). A category expected to get nothing that got something is an
 * impossible outcome under H0 (p = 0); categories expected and observed empty are left out.
 */
export function chiSquareGoodnessOfFit(observed: number[], expectedShares: number[]): ChiSquareResult {
  if (observed.length !== expectedShares.length) {
    throw new RangeError("chiSquareGoodnessOfFit: one expected share per observed count");
  }
  const total = observed.reduce((sum, o) => sum + o, 0);
  const weight = expectedShares.reduce((sum, s) => sum + s, 0);
  if (total === 0 || weight <= 0) return { chiSquare: 0, degreesOfFreedom: 0, pValue: 1 };
  let chiSquare = 0;
  let categories = 0;
  for (const [i, o] of observed.entries()) {
    const expected = (total * (expectedShares[i] ?? 0)) / weight;
    if (expected === 0) {
      if (o > 0) return { chiSquare: Number.POSITIVE_INFINITY, degreesOfFreedom: 0, pValue: 0 };
      continue;
    }
    categories++;
    chiSquare += (o - expected) ** 2 / expected;
  }
  const degreesOfFreedom = categories - 1;
  if (degreesOfFreedom < 1) return { chiSquare: 0, degreesOfFreedom: 0, pValue: 1 };
  return { chiSquare, degreesOfFreedom, pValue: chiSquareSurvival(chiSquare, degreesOfFreedom) };
}

/**
 * Holm–Bonferroni adjusted p-values, in the order given: sort ascending, multiply the i-th
 * smallest (from 0) by (m − i), keep them non-decreasing, cap at 1. A hypothesis is rejected at
 * level α exactly when its adjusted p-value is ≤ α (Holm 1979, step-down).
 */
export function holmBonferroni(pValues: number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p || x.i - y.i);
  const adjusted = new Array<number>(m).fill(1);
  let running = 0;
  for (const [rank, { p, i }] of order.entries()) {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    adjusted[i] = running;
  }
  return adjusted;
}
