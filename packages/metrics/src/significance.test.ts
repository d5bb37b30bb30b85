import { describe, expect, it } from "vitest";
import {
  chiSquareGoodnessOfFit,
  holmBonferroni,
  type SampleSummary,
  sampleVariance,
  twoProportionZTest,
  welchTTest,
} from "./significance";

/** Summary of a raw sample, as the A/B query hands it over. */
function summary(values: number[]): SampleSummary {
  return {
    n: values.length,
    sum: values.reduce((s, x) => s + x, 0),
    sumOfSquares: values.reduce((s, x) => s + x * x, 0),
  };
}

describe("twoProportionZTest (pooled, two-sided)", () => {
  it("reproduces the statsmodels worked example", () => {
    // statsmodels, `statsmodels.stats.proportion.proportions_ztest` docstring, Examples:
    //   count = np.array([5, 12]); nobs = np.array([83, 99])
    //   stat, pval = proportions_ztest(count, nobs); print('{0:0.3f}'.format(pval))  →  0.159
    // and its test suite (test_proportion.py, "GH 2969"): stat −1.4078304151258787,
    // pval 0.15918129181156992. Our z is variant − control, so the sign flips.
    const result = twoProportionZTest({ successes: 5, trials: 83 }, { successes: 12, trials: 99 });
    expect(result.z).toBeCloseTo(1.4078304151258787, 12);
    expect(result.pValue).toBeCloseTo(0.15918129181156992, 12);
    expect(result.pValue.toFixed(3)).toBe("0.159");
  });

  it("answers p = 1 where there is nothing to compare", () => {
    expect(twoProportionZTest({ successes: 0, trials: 0 }, { successes: 3, trials: 10 }).pValue).toBe(1);
    expect(twoProportionZTest({ successes: 0, trials: 10 }, { successes: 0, trials: 10 }).pValue).toBe(1);
    expect(twoProportionZTest({ successes: 10, trials: 10 }, { successes: 7, trials: 7 }).pValue).toBe(1);
  });
});

describe("welchTTest", () => {
  it("reproduces Wikipedia's worked example 1", () => {
    // Wikipedia, "Welch's t-test", section Examples, example 1
    // (https://en.wikipedia.org/w/index.php?title=Welch%27s_t-test&oldid=994214781#Examples):
    // A1 and A2 below give t = −2.46, ν ≈ 25.0, p = 0.021 (Welch). SciPy's
    // ttest_ind(A1, A2, equal_var=False) gives t −2.455356398286006, df 24.988529290231416,
    // p 0.021378001462866992.
    const a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4];
    const a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4];
    // Ours is b − a; Wikipedia's is A1 − A2.
    const result = welchTTest(summary(a2), summary(a1));
    expect(result.t.toFixed(2)).toBe("-2.46");
    expect(result.degreesOfFreedom.toFixed(1)).toBe("25.0");
    expect(result.pValue.toFixed(3)).toBe("0.021");
    expect(result.t).toBeCloseTo(-2.455356398286006, 9);
    expect(result.degreesOfFreedom).toBeCloseTo(24.988529290231416, 8);
    expect(result.pValue).toBeCloseTo(0.021378001462866992, 10);
  });

  it("computes the variance from sums as the textbook formula does", () => {
    expect(sampleVariance(summary([2, 4, 4, 4, 5, 5, 7, 9]))).toBeCloseTo(32 / 7, 12);
    expect(sampleVariance(summary([3]))).toBe(0);
  });

  it("handles constant samples", () => {
    expect(welchTTest(summary([0, 0, 0]), summary([0, 0])).pValue).toBe(1);
    expect(welchTTest(summary([1, 1, 1]), summary([2, 2])).pValue).toBe(0);
    expect(welchTTest(summary([1]), summary([2, 3])).pValue).toBe(1);
  });
});

describe("chiSquareGoodnessOfFit", () => {
  it("reproduces Wikipedia's sample-ratio-mismatch example", () => {
    // Wikipedia, "Sample ratio mismatch", Example: 1,000 users meant to be split 50/50 land
    // 600 / 400; "Using Pearson's chi-squared goodness of fit test, we find a sample ratio
    // mismatch with a p-value of 2.54 × 10^-10."
    const result = chiSquareGoodnessOfFit([600, 400], [50, 50]);
    expect(result.chiSquare).toBeCloseTo(40, 12);
    expect(result.degreesOfFreedom).toBe(1);
    expect(result.pValue.toExponential(2)).toBe("2.54e-10");
  });

  it("reproduces the SRM checker's 44,000 / 45,000 example", () => {
    // srm.osc.garden (Óscar Fernández's SRM checker), Context: a 50/50 test with 44,000 users in
    // A and 45,000 in B; "A p-value of 0.0008 (like in our 44,000 vs 45,000 example)".
    const result = chiSquareGoodnessOfFit([44_000, 45_000], [50, 50]);
    expect(result.pValue.toFixed(4)).toBe("0.0008");
  });

  it("reproduces Mendel's dihybrid cross (9:3:3:1), the classic goodness-of-fit example", () => {
    // Mendel's peas, 556 seeds: 315 round-yellow, 108 round-green, 101 wrinkled-yellow,
    // 32 wrinkled-green against 9:3:3:1 — chi-square 0.470 on 3 degrees of freedom, p ≈ 0.925
    // (e.g. SciPy chisquare: statistic 0.4700239808153477, p 0.925425895103616).
    const result = chiSquareGoodnessOfFit([315, 108, 101, 32], [9, 3, 3, 1]);
    expect(result.chiSquare).toBeCloseTo(0.4700239808153477, 12);
    expect(result.degreesOfFreedom).toBe(3);
    expect(result.pValue).toBeCloseTo(0.925425895103616, 10);
  });

  it("treats traffic where none was expected as a certain mismatch", () => {
    expect(chiSquareGoodnessOfFit([10, 5], [100, 0]).pValue).toBe(0);
    expect(chiSquareGoodnessOfFit([10, 0], [100, 0]).pValue).toBe(1);
    expect(chiSquareGoodnessOfFit([0, 0], [50, 50]).pValue).toBe(1);
  });
});

describe("holmBonferroni", () => {
  it("reproduces Wikipedia's worked example", () => {
    // Wikipedia, "Holm–Bonferroni method", Example: four null hypotheses at α = 0.05 with
    // unadjusted p-values 0.01, 0.04, 0.03 and 0.005 (H1..H4). 0.005 < 0.05/4 rejects H4,
    // 0.01 < 0.05/3 rejects H1, 0.03 is not < 0.05/2, so H3 and H2 are not rejected.
    const adjusted = holmBonferroni([0.01, 0.04, 0.03, 0.005]);
    const rejected = adjusted.map((p) => p <= 0.05);
    expect(rejected).toEqual([true, false, false, true]);
    // Adjusted values, as R's p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm"): 0.03 0.06 0.06 0.02.
    adjusted.forEach((p, i) => {
      expect(p).toBeCloseTo([0.03, 0.06, 0.06, 0.02][i] ?? Number.NaN, 12);
    });
  });

  it("keeps adjusted p-values monotone and at most 1", () => {
    expect(holmBonferroni([0.5, 0.6])).toEqual([1, 1]);
    expect(holmBonferroni([0.02])).toEqual([0.02]);
    expect(holmBonferroni([])).toEqual([]);
  });
});
