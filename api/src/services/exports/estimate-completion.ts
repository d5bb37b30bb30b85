import { exportQueueOrder, recentExportRuns } from "@funnel/db/queries/exports";
import type { Deps } from "../../deps";

/**
 * When a queued export should be done, from what the queue holds and how long exports have taken:
 * the exports ahead of it (every account's: one queue serves them all, first requested first run)
 * and itself, each expected to run as long as recent runs of its report and format did (a year of
 * converting visitors takes ten times an overview; see runTimesOf), handed out to the
 * EXPORT_CONCURRENCY workers as they free up; a running one has only what is left of its run to go. Successive exports of an
 * account never get an earlier estimate than the one before while that one lies ahead (the last
 * one given is kept in the cache until it passes): an export asked for after another is not
 * promised before it, even when a worker could take the two at once.
 */

/** Runs learnt from: the latest completed exports. */
const SAMPLE = 100;
/** A run when nothing has completed yet to learn from (most exports take about a second). */
export const DEFAULT_RUN_MS = 2_000;

export interface RunTimes {
  /** Expected run of one export of this report and format, in ms. */
  of(reportType: string, format: string): number;
  /** A typical run of any export (for a Retry-After), in ms. */
  typical: number;
}

/** Runs of one report and format an estimate looks at: the latest, so it follows how fast exports run now. */
const RUNS_PER_KIND = 5;

/**
 * The median of the latest RUNS_PER_KIND runs of the same report and format, else of all recent
 * runs, else DEFAULT_RUN_MS. A median, so that one slow run (the first after a worker starts, with
 * its connections and caches cold, takes several times the next) does not stretch every estimate.
 */
export function runTimesOf(runs: { reportType: string; format: string; ms: number }[]): RunTimes {
  const median = (ms: number[]) => {
    const sorted = [...ms].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  };
  // Newest first, as recentExportRuns gives them.
  const byKind = new Map<string, number[]>();
  for (const run of runs) {
    const key = `${run.reportType}/${run.format}`;
    const kind = byKind.get(key) ?? [];
    if (kind.length < RUNS_PER_KIND) kind.push(Math.max(0, run.ms));
    byKind.set(key, kind);
  }
  const typical = runs.length > 0 ? median(runs.map((r) => Math.max(0, r.ms))) : DEFAULT_RUN_MS;
  return {
    typical,
    of(reportType, format) {
      const same = byKind.get(`${reportType}/${format}`);
      return same ? median(same) : typical;
    },
  };
}

export function recentRunTimes(deps: Pick<Deps, "database">): Promise<RunTimes> {
  return recentExportRuns(deps.database.db, SAMPLE).then(runTimesOf);
}

/** What the cache keeps per account: the completion last estimated, in ms since the epoch. */
const lastEstimateKey = (accountId: string) => `export-estimate:${accountId}`;

export async function estimateCompletion(
  deps: Pick<Deps, "database" | "config" | "cache" | "exports">,
  input: { accountId: string; exportId: string; runTimes: RunTimes },
): Promise<Date> {
  const now = deps.exports.now().getTime();
  const queue = await exportQueueOrder(deps.database.db);
  // The workers' slots, each free from some time on; a job takes the first to free up.
  const slots = Array.from({ length: deps.config.EXPORT_CONCURRENCY }, () => now);
  // Running jobs hold their slots first, then the queued ones in order, up to this one.
  const running = queue.filter((job) => job.status === "processing");
  const waiting = queue.filter((job) => job.status !== "processing");
  // Not in the queue any more: a worker has already finished it.
  let done = now;
  for (const job of [...running, ...waiting]) {
    const run = input.runTimes.of(job.reportType, job.format);
    const elapsed = job.status === "processing" && job.startedAt ? now - job.startedAt.getTime() : 0;
    const slot = slots.indexOf(Math.min(...slots));
    const finish = (slots[slot] ?? now) + Math.max(0, run - elapsed);
    slots[slot] = finish;
    if (job.id === input.exportId) {
      done = finish;
      break;
    }
  }
  const key = lastEstimateKey(input.accountId);
  const last = await deps.cache.get<number>(key);
  const estimate = Math.max(done, typeof last === "number" ? last : 0);
  // Kept until the estimate has passed: after that, any new estimate is later anyway.
  await deps.cache.set(key, estimate, Math.max(1, Math.ceil((estimate - now) / 1000)));
  return new Date(estimate);
}
