import { randomUUID } from "node:crypto";
import { type FunnelRecord, getFunnel } from "@funnel/db/queries/catalog";
import { derivedThrough } from "@funnel/db/queries/derive";
import type { ReportScope } from "@funnel/db/queries/reports";
import {
  bucketStarts,
  type Granularity,
  type Period,
  type PeriodBounds,
  PeriodError,
  type PeriodInput,
  parsePeriod,
  periodBounds,
  roundTo,
} from "@funnel/metrics";
import type { AccountScope, Deps } from "../../../deps";
import { InvalidError, NotFoundError } from "../../../errors";

/**
 * What every funnel report shares: the period and its buckets, the funnel (another account's is a
 * 404, like an unknown one), the result cache, and how fresh the report is: `data_through`, the time
 * before which every stored event of the account is in the rollups the report read (the deriver
 * keeps them up a moment after events are stored). A cached report keeps the `data_through` it was
 * built with, and is at most REPORT_CACHE_SECONDS old.
 */

export type ReportContext = Pick<Deps, "database" | "cache" | "config">;

export interface ReportInput {
  funnelId: string;
  date_from?: string | undefined;
  date_to?: string | undefined;
  tz?: string | undefined;
  granularity?: Granularity | undefined;
}

export interface ResolvedReport {
  funnel: FunnelRecord;
  period: Period;
  granularity: Granularity;
  buckets: Date[];
  scope: ReportScope;
}

/** Every report's last field: every event stored before this time is counted (ISO 8601; null before any). */
export interface Freshness {
  data_through: string | null;
}

export interface PeriodView {
  start: string;
  end: string;
  time_zone: string;
}

export function periodView(period: Period): PeriodView {
  return { start: period.start.toISOString(), end: period.end.toISOString(), time_zone: period.timeZone };
}

/**
 * Resolves the request, then returns the cached report or builds and caches it. `key` holds what
 * else the report depends on (a step, a page).
 */
export async function cachedReport<T>(
  ctx: ReportContext,
  account: Pick<AccountScope, "accountId">,
  name: string,
  input: ReportInput,
  key: Record<string, string | number>,
  build: (report: ResolvedReport) => Promise<T>,
): Promise<T & Freshness> {
  const period = periodOf(input);
  const granularity = input.granularity ?? "day";
  const ttl = ctx.config.REPORT_CACHE_SECONDS;
  const generation = ttl > 0 ? await reportGeneration(ctx, account.accountId) : "";
  const cacheKey = [
    "report",
    account.accountId,
    generation,
    input.funnelId,
    name,
    period.start.toISOString(),
    period.end.toISOString(),
    period.timeZone,
    granularity,
    ...Object.entries(key).map(([k, v]) => `${k}=${v}`),
  ].join(":");
  if (ttl > 0) {
    const hit = await ctx.cache.get<T & Freshness>(cacheKey);
    if (hit !== undefined) return hit;
  }
  const funnel = await getFunnel(ctx.database.db, account.accountId, input.funnelId);
  if (!funnel) throw new NotFoundError("funnel");
  // Before the report's queries: what was derived by then is what they read, at least.
  const through = await derivedThrough(ctx.database.db, account.accountId);
  const built = await build({
    funnel,
    period,
    granularity,
    buckets: bucketStarts(period, granularity),
    scope: { accountId: account.accountId, funnelId: funnel.id, start: period.start, end: period.end },
  });
  const report = { ...built, data_through: through?.toISOString() ?? null };
  if (ttl > 0) await ctx.cache.set(cacheKey, report, ttl);
  return report;
}

const GENERATION_TTL_SECONDS = 30 * 86_400;
const generationKey = (accountId: string) => `report-generation:${accountId}`;

/** The account's report generation: part of every cache key, so a new one retires every entry. */
async function reportGeneration(ctx: Pick<Deps, "cache">, accountId: string): Promise<string> {
  return (await ctx.cache.get<string>(generationKey(accountId))) ?? "0";
}

/**
 * Retires every cached report of the account (a consent withdrawal changed stored rows). Deleting
 * the entries is not enough: a report being computed meanwhile, from the rows as they were, would
 * be cached after the deletion; it is cached under the old generation, which is never read again.
 */
export async function retireCachedReports(ctx: Pick<Deps, "cache">, accountId: string): Promise<void> {
  await ctx.cache.set(generationKey(accountId), randomUUID(), GENERATION_TTL_SECONDS);
  await ctx.cache.deleteByPrefix(`report:${accountId}:`);
}

/**
 * The request's period, or an InvalidError naming the parameter (exports check it when asked). A
 * bound left out has its default: the last 30 days in `tz` when both are (packages/metrics period.ts).
 */
export function periodOf(input: ReportInput, now: Date = new Date()): Period {
  return asInvalid(() => parsePeriod(input, now));
}

/** The request's bounds with their defaults filled in, checked as `periodOf` checks them. */
export function periodBoundsOf(input: PeriodInput, now: Date = new Date()): PeriodBounds {
  return asInvalid(() => periodBounds(input, now));
}

function asInvalid<T>(resolve: () => T): T {
  try {
    return resolve();
  } catch (error) {
    if (error instanceof PeriodError) {
      throw new InvalidError(error.message, [{ field: error.field, message: error.message }]);
    }
    throw error;
  }
}

/** `over_time` rows: one per bucket, zeros where `rows` has none. */
export function overTime<T>(
  buckets: Date[],
  row: (index: number, start: Date) => T,
): (T & { timestamp: string })[] {
  return buckets.map((start, i) => ({ timestamp: start.toISOString(), ...row(i + 1, start) }));
}

/** Seconds from milliseconds, rounded half away from zero; 0 for none. */
export function seconds(ms: number | null): number {
  if (ms === null || !Number.isFinite(ms)) return 0;
  return roundTo(ms / 1000, 0);
}
