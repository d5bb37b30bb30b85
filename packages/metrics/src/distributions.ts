import { gammaln } from "simple-statistics";

/**
 * Distribution functions the significance tests need, to full double precision in the tails.
 * simple-statistics gives the log-gamma function but only tables for chi-square and a normal CDF
 * good to about 1e-7 absolute, so the regularized incomplete gamma and beta functions are
 * implemented here (continued fractions after Numerical Recipes, 3rd ed., §6.2 and §6.4) and
 * every CDF is derived from them:
 *   normal tail     erfc(x) = Q(1/2, x²)
 *   chi-square      P(X > x) = Q(k/2, x/2)
 *   Student t       P(|T| > t) = I_{ν/(ν+t²)}(ν/2, 1/2)
 */

const EPSILON = 1e-15;
const TINY = 1e-300;
const MAX_ITERATIONS = 100_000;

/** Regularized lower incomplete gamma P(a, x) = γ(a, x) / Γ(a). */
export function regularizedGammaP(a: number, x: number): number {
  return 1 - regularizedGammaQ(a, x);
}

/** Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a), accurate where it is small. */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || Number.isNaN(x)) throw new RangeError("regularizedGammaQ: a must be > 0");
  if (x <= 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  const logPrefix = -x + a * Math.log(x) - gammaln(a);
  if (x < a + 1) return 1 - Math.exp(logPrefix) * gammaSeries(a, x);
  return Math.exp(logPrefix) * gammaContinuedFraction(a, x);
}

/** Σ xⁿ / (a (a+1) … (a+n)): converges fast for x < a + 1. */
function gammaSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < MAX_ITERATIONS; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPSILON) return sum;
  }
  throw new Error("regularizedGammaQ: series did not converge");
}

/** Continued fraction for Γ(a, x) (modified Lentz): converges fast for x ≥ a + 1. */
function gammaContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) return h;
  }
  throw new Error("regularizedGammaQ: continued fraction did not converge");
}

/** Regularized incomplete beta I_x(a, b). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError("regularizedBeta: a and b must be > 0");
  if (!(x >= 0 && x <= 1)) throw new RangeError("regularizedBeta: x must be in [0, 1]");
  if (x === 0 || x === 1) return x;
  const logPrefix = gammaln(a + b) - gammaln(a) - gammaln(b) + a * Math.log(x) + b * Math.log1p(-x);
  // The continued fraction converges fast on this side of the mean; the symmetry
  // I_x(a, b) = 1 − I_{1−x}(b, a) covers the other.
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logPrefix) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(logPrefix) * betaContinuedFraction(1 - x, b, a)) / b;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < MAX_ITERATIONS; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) return h;
  }
  throw new Error("regularizedBeta: continued fraction did not converge");
}

/** Standard normal CDF Φ(z). */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  const tail = 0.5 * regularizedGammaQ(0.5, (z * z) / 2);
  return z >= 0 ? 1 - tail : tail;
}

/** P(|Z| ≥ |z|) for a standard normal Z. */
export function normalTwoSidedP(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  return regularizedGammaQ(0.5, (z * z) / 2);
}

/** P(X ≥ x) for X chi-square with `degreesOfFreedom` (> 0). */
export function chiSquareSurvival(x: number, degreesOfFreedom: number): number {
  if (!(degreesOfFreedom > 0)) throw new RangeError("chiSquareSurvival: degrees of freedom must be > 0");
  if (x <= 0) return 1;
  return regularizedGammaQ(degreesOfFreedom / 2, x / 2);
}

/** P(|T| ≥ |t|) for T Student-t with `degreesOfFreedom` (> 0, need not be whole). */
export function studentTTwoSidedP(t: number, degreesOfFreedom: number): number {
  if (!(degreesOfFreedom > 0)) throw new RangeError("studentTTwoSidedP: degrees of freedom must be > 0");
  if (Number.isNaN(t)) return Number.NaN;
  if (!Number.isFinite(t)) return 0;
  return regularizedBeta(degreesOfFreedom / (degreesOfFreedom + t * t), degreesOfFreedom / 2, 0.5);
}

/** Student-t CDF P(T ≤ t). */
export function studentTCdf(t: number, degreesOfFreedom: number): number {
  const tail = studentTTwoSidedP(t, degreesOfFreedom) / 2;
  return t >= 0 ? 1 - tail : tail;
}
