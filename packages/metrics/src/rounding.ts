/**
 * Rounding rules of every report (METRICS.md, "Shared rules"): rates are fractions in [0, 1]
 * rounded to 4 decimals, 0 over a zero denominator; money is integer cents, and averages of
 * cents round half away from zero.
 */

/** `value` rounded to `digits` decimals, half away from zero. */
export function roundTo(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value;
  const scale = 10 ** digits;
  // toPrecision first: 1.00005 * 1e4 is 10000.499999999998 in binary, and must round up.
  const scaled = Number((Math.abs(value) * scale).toPrecision(15));
  return (Math.sign(value) * Math.round(scaled)) / scale || 0;
}

/**
 * numerator ÷ denominator as a rate: 4 decimals, 0 when the denominator is 0, kept in [0, 1] (a
 * period can hold more refunds than orders, or exits of entries made before it).
 */
export function rate(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : Math.min(1, Math.max(0, roundTo(numerator / denominator, 4)));
}

/** A ratio that may leave [0, 1] (lifts, improvements), 4 decimals; null over a zero denominator. */
export function ratio(numerator: number, denominator: number): number | null {
  return denominator === 0 ? null : roundTo(numerator / denominator, 4);
}

/** Average of integer cents: total ÷ count rounded half away from zero; 0 when count is 0. */
export function averageCents(totalCents: number, count: number): number {
  return count === 0 ? 0 : roundTo(totalCents / count, 0);
}
