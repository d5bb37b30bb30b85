import { normalDistribution } from "simple-statistics";
import { describe, expect, it } from "vitest";
import {
  chiSquareSurvival,
  normalCdf,
  normalTwoSidedP,
  regularizedBeta,
  regularizedGammaQ,
  studentTCdf,
  studentTTwoSidedP,
} from "./distributions";

/** |actual − expected| ≤ relative × |expected| (tails are checked relatively, not absolutely). */
function expectRelative(actual: number, expected: number, relative = 1e-9) {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(relative * Math.abs(expected));
}

// Reference values: SciPy 1.17 (scipy.stats.norm/t/chi2, scipy.special.betainc/gammaincc), and
// the textbook critical values (z 1.96, t(10) 2.228…, chi-square(1) 3.841…) at α = 0.05.
describe("normal distribution", () => {
  it("matches reference values across the range, tails included", () => {
    expectRelative(normalCdf(1.96), 0.9750021048517795);
    expectRelative(normalCdf(-1), 0.15865525393145707);
    expectRelative(normalCdf(0.3), 0.6179114221889526);
    expectRelative(normalCdf(-3), 0.0013498980316300933);
    expectRelative(normalTwoSidedP(16) / 2, normalCdf(-16), 1e-12);
    expectRelative(normalCdf(-8), 6.22096057427174e-16);
    expectRelative(normalCdf(-37), 5.7255712225239266e-300, 1e-6);
    expect(normalCdf(0)).toBe(0.5);
  });

  it("gives p = 0.05 at the two-sided critical value 1.959963984540054", () => {
    expectRelative(normalTwoSidedP(1.959963984540054), 0.05, 1e-12);
  });

  it("agrees with simple-statistics' normal CDF (good to ~1e-7) over [-5, 5]", () => {
    for (let z = -5; z <= 5; z += 0.25) {
      expect(Math.abs(normalCdf(z) - normalDistribution(z, 0, 1, true))).toBeLessThan(2e-7);
    }
  });
});

describe("Student t distribution", () => {
  it("matches reference values, fractional degrees of freedom included", () => {
    expectRelative(studentTCdf(2, 5), 0.9490302605850708);
    expectRelative(studentTCdf(-1.5, 2.5), 0.12391822654314809);
    expectRelative(studentTTwoSidedP(1, 1), 0.5); // Cauchy: P(|T| > 1) = 1/2 exactly
    expectRelative(studentTTwoSidedP(40, 3), 3.4380680789158506e-5);
    expectRelative(studentTTwoSidedP(3, 100_000), 0.0027004608840647234, 1e-8);
  });

  it("gives p = 0.05 at the tabled critical values t(1) = 12.706 and t(10) = 2.228", () => {
    expectRelative(studentTTwoSidedP(12.706204736174705, 1), 0.05, 1e-10);
    expectRelative(studentTTwoSidedP(2.228138851986274, 10), 0.05, 1e-10);
  });

  it("tends to the normal distribution for large degrees of freedom", () => {
    expect(Math.abs(studentTTwoSidedP(1.96, 1e7) - normalTwoSidedP(1.96))).toBeLessThan(1e-7);
  });
});

describe("chi-square distribution", () => {
  it("matches reference values", () => {
    expectRelative(chiSquareSurvival(3.841458820694124, 1), 0.05, 1e-12);
    expectRelative(chiSquareSurvival(18.307038053275146, 10), 0.05, 1e-12);
    expectRelative(chiSquareSurvival(40, 3), 1.065509033425585e-8);
    expectRelative(chiSquareSurvival(0.5, 7), 0.9994464813904249);
    expectRelative(chiSquareSurvival(250, 200), 0.009379131668826098);
    expectRelative(chiSquareSurvival(1e-3, 1), 0.9747728793699604);
    // Two degrees of freedom: P(X > x) = e^(−x/2) exactly.
    expectRelative(chiSquareSurvival(7.3, 2), Math.exp(-3.65), 1e-13);
  });
});

describe("incomplete beta and gamma functions", () => {
  it("match reference values", () => {
    expectRelative(regularizedBeta(0.3, 2.5, 0.5), 0.018927124071945658);
    expectRelative(regularizedBeta(0.9999, 50_000, 0.5), 0.0015650197621734966, 1e-8);
    expectRelative(regularizedGammaQ(3.5, 1.2), 0.9344370795779711);
    expectRelative(regularizedGammaQ(100, 120), 0.027863739890520652, 1e-9);
    expect(regularizedBeta(0, 2, 3)).toBe(0);
    expect(regularizedBeta(1, 2, 3)).toBe(1);
  });
});
