import { describe, expect, it } from "vitest";
import { analyzeAbTest, type VariantTotals } from "./ab-test";

/** Seeded PRNG (mulberry32): every run simulates the same traffic. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Arm {
  /** True conversion probability. */
  rate: number;
  /** Percent of traffic. */
  split: number;
  /** Order value of a conversion, cents: uniform in [min, max]. */
  order?: [number, number];
  /** Share of visitors actually assigned here (default split): a broken assignment. */
  actualShare?: number;
}

/** `visitors` visitors randomly assigned to the arms, converting with each arm's true rate. */
function simulate(arms: Arm[], visitors: number, random: () => number): VariantTotals[] {
  const totals: VariantTotals[] = arms.map((arm, i) => ({
    id: `v${i}`,
    name: i === 0 ? "Control" : `Variant ${i}`,
    isControl: i === 0,
    trafficSplit: arm.split,
    visitors: 0,
    conversions: 0,
    revenueCents: 0,
    revenueSumOfSquares: 0,
  }));
  const shares = arms.map((a) => a.actualShare ?? a.split / 100);
  for (let v = 0; v < visitors; v++) {
    let r = random();
    let arm = arms.length - 1;
    for (const [i, share] of shares.entries()) {
      if (r < share) {
        arm = i;
        break;
      }
      r -= share;
    }
    const total = totals[arm] as VariantTotals;
    const spec = arms[arm] as Arm;
    total.visitors++;
    if (random() < spec.rate) {
      const [min, max] = spec.order ?? [5_000, 5_000];
      const value = min + Math.floor(random() * (max - min + 1));
      total.conversions++;
      total.revenueCents += value;
      total.revenueSumOfSquares += value * value;
    }
  }
  return totals;
}

function fixed(visitors: number, conversions: number, i: number, split = 50): VariantTotals {
  return {
    id: `v${i}`,
    name: i === 0 ? "Control" : `Variant ${i}`,
    isControl: i === 0,
    trafficSplit: split,
    visitors,
    conversions,
    revenueCents: conversions * 5_000,
    revenueSumOfSquares: conversions * 5_000 * 5_000,
  };
}

describe("analyzeAbTest figures", () => {
  it("computes rate, improvement and confidence as METRICS.md defines them", () => {
    // statsmodels' worked example again (5/83 against 12/99: p 0.15918129181156992).
    const verdict = analyzeAbTest([fixed(83, 5, 0), fixed(99, 12, 1)]);
    const [control, variant] = verdict.variants;
    expect(control).toMatchObject({
      conversionRate: 0.0602,
      improvementVsControl: null,
      confidence: null,
      adjustedConfidence: null,
      avgRevenuePerVisitorCents: Math.round((5 * 5_000) / 83),
    });
    expect(variant?.conversionRate).toBe(0.1212);
    expect(variant?.improvementVsControl).toBe(Number(((12 / 99 - 5 / 83) / (5 / 83)).toFixed(4)));
    expect(variant?.confidence).toBe(0.8408);
    // One challenger: Holm changes nothing.
    expect(variant?.adjustedConfidence).toBe(0.8408);
    expect(verdict.winner).toBeNull();
    expect(verdict.conclusion).toContain("84.08 %");
  });

  it("has no improvement over a zero control rate", () => {
    const verdict = analyzeAbTest([fixed(100, 0, 0), fixed(100, 3, 1)]);
    expect(verdict.variants[1]?.improvementVsControl).toBeNull();
  });

  it("declares a significant winner with the figures in its reason", () => {
    const verdict = analyzeAbTest([fixed(5_000, 500, 0), fixed(5_000, 600, 1)]);
    expect(verdict.winner?.variantId).toBe("v1");
    expect(verdict.winner?.reason).toMatch(
      /Variant 1 converts at 12\.00 % against 10\.00 % for Control \(\+20\.0 %\)/,
    );
    expect(verdict.winner?.reason).toContain("5,000 and 5,000 visitors");
    expect(verdict.winner?.reason).toContain("Holm–Bonferroni over 1 challenger");
  });

  it("makes the control the winner when every challenger is significantly worse", () => {
    const verdict = analyzeAbTest([
      fixed(5_000, 600, 0, 34),
      fixed(5_000, 450, 1, 33),
      fixed(5_000, 460, 2, 33),
    ]);
    expect(verdict.winner?.variantId).toBe("v0");
    expect(verdict.winner?.reason).toContain("Every challenger converts significantly worse than Control");
  });

  it("declares no winner when only one of two challengers is significantly worse", () => {
    const verdict = analyzeAbTest([
      fixed(5_000, 600, 0, 34),
      fixed(5_000, 450, 1, 33),
      fixed(5_000, 610, 2, 33),
    ]);
    expect(verdict.winner).toBeNull();
  });

  it("applies Holm–Bonferroni: significant alone, not after correction over three challengers", () => {
    // p ≈ 0.03 for the best challenger: significant on its own, not after ×3.
    const alone = analyzeAbTest([fixed(5_000, 500, 0, 50), fixed(5_000, 561, 1, 50)]);
    expect(alone.variants[1]?.pValue).toBeGreaterThan(0.02);
    expect(alone.variants[1]?.pValue).toBeLessThan(0.05);
    expect(alone.winner?.variantId).toBe("v1");
    const corrected = analyzeAbTest([
      fixed(5_000, 500, 0, 25),
      fixed(5_000, 561, 1, 25),
      fixed(5_000, 505, 2, 25),
      fixed(5_000, 498, 3, 25),
    ]);
    expect(corrected.variants[1]?.confidence).toBe(alone.variants[1]?.confidence);
    expect(corrected.variants[1]?.adjustedConfidence).toBeLessThan(0.95);
    expect(corrected.winner).toBeNull();
    expect(corrected.conclusion).toContain("below the 95 % needed after Holm–Bonferroni over 3 challengers");
  });

  it("withholds the winner on a sample-ratio mismatch and says why", () => {
    // Wikipedia's SRM example split (600/400 of a 50/50 test), with a clear conversion lift.
    const verdict = analyzeAbTest([fixed(600, 30, 0), fixed(400, 60, 1)]);
    expect(verdict.sampleRatio.mismatch).toBe(true);
    expect(verdict.sampleRatio.pValue.toExponential(2)).toBe("2.54e-10");
    expect(verdict.sampleRatio.expectedVisitors).toEqual([500, 500]);
    expect(verdict.variants[1]?.significant).toBe(true);
    expect(verdict.winner).toBeNull();
    expect(verdict.conclusion).toContain("sample ratio mismatch");
  });

  it("shows a winner that converts more but earns less per visitor", () => {
    const control: VariantTotals = {
      ...fixed(5_000, 500, 0),
      revenueCents: 500 * 10_000,
      revenueSumOfSquares: 500 * 10_000 ** 2,
    };
    const cheap: VariantTotals = {
      ...fixed(5_000, 600, 1),
      revenueCents: 600 * 4_000,
      revenueSumOfSquares: 600 * 4_000 ** 2,
    };
    const verdict = analyzeAbTest([control, cheap]);
    expect(verdict.winner?.variantId).toBe("v1");
    const revenue = verdict.variants[1]?.revenuePerVisitor;
    expect(revenue?.meanCents).toBe(480);
    expect(revenue?.improvementVsControl).toBe(-0.52);
    expect(revenue?.confidence).toBeGreaterThan(0.99);
    expect(verdict.winner?.reason).toContain("But it earns less per visitor: 4.80 against 10.00");
  });
});

describe("analyzeAbTest on simulated traffic with a known truth", () => {
  it("finds a real 20 % lift (10 % → 12 %, 10,000 visitors per arm) nearly every time", () => {
    const random = prng(11);
    const runs = 200;
    let found = 0;
    let liftSum = 0;
    for (let run = 0; run < runs; run++) {
      const verdict = analyzeAbTest(
        simulate(
          [
            { rate: 0.1, split: 50 },
            { rate: 0.12, split: 50 },
          ],
          20_000,
          random,
        ),
      );
      if (verdict.winner?.variantId === "v1") found++;
      liftSum += verdict.variants[1]?.improvementVsControl ?? 0;
    }
    // Power of this design is about 99.6 %; the estimated lift averages the true 20 %.
    expect(found / runs).toBeGreaterThan(0.97);
    expect(liftSum / runs).toBeGreaterThan(0.18);
    expect(liftSum / runs).toBeLessThan(0.22);
  });

  it("picks the right one of three challengers when only one is truly better", () => {
    const random = prng(12);
    let right = 0;
    let wrong = 0;
    for (let run = 0; run < 100; run++) {
      const verdict = analyzeAbTest(
        simulate(
          [
            { rate: 0.1, split: 25 },
            { rate: 0.1, split: 25 },
            { rate: 0.125, split: 25 },
            { rate: 0.1, split: 25 },
          ],
          40_000,
          random,
        ),
      );
      if (verdict.winner?.variantId === "v2") right++;
      else if (verdict.winner) wrong++;
    }
    expect(right).toBeGreaterThan(90);
    expect(wrong).toBeLessThanOrEqual(2);
  });

  it("declares a winner in A/A tests at about the nominal 5 %", () => {
    const random = prng(13);
    const runs = 4_000;
    let winners = 0;
    let srm = 0;
    for (let run = 0; run < runs; run++) {
      const verdict = analyzeAbTest(
        simulate(
          [
            { rate: 0.1, split: 50 },
            { rate: 0.1, split: 50 },
          ],
          4_000,
          random,
        ),
      );
      if (verdict.winner) winners++;
      if (verdict.sampleRatio.mismatch) srm++;
    }
    // A winner either way (challenger better, or control when the challenger is worse) is a false
    // positive: expected 5 %, binomial sd √(0.05·0.95/4000) ≈ 0.34 points; ±1.2 points is 3.5 sd.
    expect(winners / runs).toBeGreaterThan(0.038);
    expect(winners / runs).toBeLessThan(0.062);
    // The SRM check fires at its nominal 0.1 % when the split works.
    expect(srm / runs).toBeLessThan(0.004);
  });

  it("keeps the family-wise false-positive rate at or below 5 % with three challengers (A/A/A/A)", () => {
    const random = prng(14);
    const runs = 2_000;
    let winners = 0;
    let uncorrected = 0;
    for (let run = 0; run < runs; run++) {
      const arms = [0, 1, 2, 3].map(() => ({ rate: 0.1, split: 25 }));
      const verdict = analyzeAbTest(simulate(arms, 8_000, random));
      if (verdict.winner) winners++;
      if (verdict.variants.some((v) => (v.pValue ?? 1) <= 0.05)) uncorrected++;
    }
    expect(winners / runs).toBeLessThan(0.06);
    // Without the correction, some challenger "wins" in roughly 12 % of A/A/A/A tests.
    expect(uncorrected / runs).toBeGreaterThan(0.09);
  });

  it("flags a broken split (52/48 instead of 50/50 over 20,000 visitors)", () => {
    const random = prng(15);
    let flagged = 0;
    for (let run = 0; run < 50; run++) {
      const verdict = analyzeAbTest(
        simulate(
          [
            { rate: 0.1, split: 50, actualShare: 0.52 },
            { rate: 0.1, split: 50, actualShare: 0.48 },
          ],
          20_000,
          random,
        ),
      );
      if (verdict.sampleRatio.mismatch) {
        flagged++;
        expect(verdict.winner).toBeNull();
      }
    }
    expect(flagged).toBeGreaterThan(45);
  });

  it("sees revenue per visitor fall when a variant converts more with smaller orders", () => {
    const random = prng(16);
    const verdict = analyzeAbTest(
      simulate(
        [
          { rate: 0.1, split: 50, order: [8_000, 12_000] },
          { rate: 0.12, split: 50, order: [3_000, 5_000] },
        ],
        20_000,
        random,
      ),
    );
    expect(verdict.winner?.variantId).toBe("v1");
    expect(verdict.variants[1]?.revenuePerVisitor.improvementVsControl).toBeLessThan(-0.4);
    expect(verdict.variants[1]?.revenuePerVisitor.confidence).toBeGreaterThan(0.999);
    expect(verdict.winner?.reason).toContain("earns less per visitor");
  });
});
