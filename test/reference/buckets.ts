import type { Granularity, RefPeriod } from "./events";

/**
 * Time buckets in the report's time zone, from the wall clock Intl reports, so that DST days of 23
 * or 25 hours and :30 / :45 offsets come out of the tz database rather than out of arithmetic on
 * offsets. Deliberately its own code: the product's bucketing is what it checks.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      calendar: "gregory",
      numberingSystem: "latn",
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  minute: number;
  second: number;
}

function wallClock(ms: number, timeZone: string): WallClock {
  const parts = new Map<string, string>(
    formatter(timeZone)
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  const part = (name: string) => Number(parts.get(name));
  return {
    year: part("year"),
    month: part("month"),
    day: part("day"),
    minute: part("minute"),
    second: part("second"),
  };
}

/** The local calendar date as a day count since 1970-01-01 (1970-01-01 was a Thursday). */
function localDayNumber(ms: number, timeZone: string): number {
  const w = wallClock(ms, timeZone);
  return Date.UTC(w.year, w.month - 1, w.day) / DAY;
}

/** Day number of the Monday that starts the local week. */
function localWeekNumber(ms: number, timeZone: string): number {
  const day = localDayNumber(ms, timeZone);
  const daysSinceMonday = (((day + 3) % 7) + 7) % 7;
  return day - daysSinceMonday;
}

/** Smallest instant in (from, ms] whose key is at least that of `ms`: where the local day/week began. */
function firstInstantWithKey(ms: number, from: number, key: (ms: number) => number): number {
  const target = key(ms);
  let lo = from;
  let hi = ms;
  if (key(lo) >= target) throw new Error("bucket search window too small");
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (key(mid) >= target) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Start (UTC ms) of the bucket holding `ms`. */
export function bucketStart(ms: number, granularity: Granularity, timeZone: string): number {
  switch (granularity) {
    case "hour": {
      // Going back by the local minutes and seconds keeps both hours of a 25-hour day apart.
      const w = wallClock(ms, timeZone);
      const millis = ((ms % 1000) + 1000) % 1000;
      return ms - (w.minute * 60 + w.second) * 1000 - millis;
    }
    case "day":
      return firstInstantWithKey(ms, ms - 2 * DAY, (t) => localDayNumber(t, timeZone));
    case "week":
      return firstInstantWithKey(ms, ms - 9 * DAY, (t) => localWeekNumber(t, timeZone));
  }
}

/** A point safely inside the next bucket, whatever the DST shifts of this one. */
const stride: Record<Granularity, number> = { hour: HOUR, day: 36 * HOUR, week: 7 * DAY + 12 * HOUR };

/** Starts of every bucket that overlaps the period, oldest first; the first may precede the period. */
export function bucketStarts(period: RefPeriod, granularity: Granularity): number[] {
  const starts: number[] = [];
  const end = period.end.getTime();
  if (period.start.getTime() >= end) return starts; // an empty period overlaps no bucket
  let current = bucketStart(period.start.getTime(), granularity, period.timeZone);
  while (current < end) {
    starts.push(current);
    const next = bucketStart(current + stride[granularity], granularity, period.timeZone);
    if (next <= current) throw new Error(`buckets do not advance at ${new Date(current).toISOString()}`);
    current = next;
  }
  return starts;
}

/** Index of the bucket holding `ms` (the last start at or before it); `ms` lies inside the period. */
export function bucketIndex(starts: number[], ms: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if ((starts[mid] ?? Number.POSITIVE_INFINITY) <= ms) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Items split by the bucket holding their time, one list per start; every time lies in the period. */
export function splitByBucket<T>(starts: number[], items: T[], time: (item: T) => number): T[][] {
  const groups = starts.map((): T[] => []);
  for (const item of items) groups[bucketIndex(starts, time(item))]?.push(item);
  return groups;
}
