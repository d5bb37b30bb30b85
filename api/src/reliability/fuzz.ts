import type { Parameters } from "fast-check";

/**
 * One seed for every property of the reliability suite, so a run is reproducible: a failure
 * prints `seed` and `path` (fast-check's counterexample report), and `RELIABILITY_SEED=<seed>`
 * replays it. The default is fixed so that CI runs the same cases every time; set another seed
 * (or `random`) to explore further.
 */
const fromEnv = process.env.RELIABILITY_SEED;
export const FUZZ_SEED =
  fromEnv === "random" ? Date.now() % 2_147_483_647 : fromEnv ? Number(fromEnv) : 20_261_130;

/** Runs per property; `RELIABILITY_RUNS_FACTOR` scales them all (e.g. 10 for a long exploration). */
const factor = Number(process.env.RELIABILITY_RUNS_FACTOR ?? 1);

export function fuzzParameters<T>(numRuns: number): Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: Math.max(1, Math.round(numRuns * factor)), endOnFailure: true };
}
