import { instantOf, localTimeOf, type Period } from "./period";

/**
 * Time buckets of a report (METRICS.md "Time buckets"): hours, days or weeks (from Monday) in the
 * report's time zone; every bucket that overlaps the period, so a chart never skips one.
 */

export const GRANULARITIES = ["hour", "day", "week"] as const;
export type Granularity = (typeof GRANULARITIES)[number];

const HOUR_MS = 3_600_000;

/** Start of the bucket that holds `instant`. */
export function bucketStart(instant: Date, granularity: Granularity, timeZone: string): Date {
  const local = localTimeOf(instant, timeZone);
  if (granularity === "hour") {
    // Hours are counted in absolute time: a repeated hour at the end of summer time stays two buckets.
    return new Date(instant.getTime() - (local.minute * 60_000 + local.second * 1000 + local.millisecond));
  }
  const midnight = { ...local, hour: 0, minute: 0, second: 0, millisecond: 0 };
  if (granularity === "day") return instantOf(midnight, timeZone);
  // Monday = 0.
  const weekday = (new Date(Date.UTC(local.year, local.month - 1, local.day)).getUTCDay() + 6) % 7;
  return instantOf({ ...midnight, day: local.day - weekday }, timeZone);
}

/** Starts of every bucket overlapping [period.start, period.end), oldest first. */
export function bucketStarts(period: Period, granularity: Granularity): Date[] {
  const starts: Date[] = [];
  let current = bucketStart(period.start, granularity, period.timeZone);
  while (current.getTime() < period.end.getTime()) {
    starts.push(current);
    current = nextBucket(current, granularity, period.timeZone);
  }
  return starts;
}

function nextBucket(start: Date, granularity: Granularity, timeZone: string): Date {
  if (granularity === "hour") return new Date(start.getTime() + HOUR_MS);
  const local = localTimeOf(start, timeZone);
  const next = instantOf({ ...local, day: local.day + (granularity === "day" ? 1 : 7) }, timeZone);
  // A day that starts inside a DST gap maps back onto itself; step past it.
  return next.getTime() > start.getTime() ? next : new Date(start.getTime() + 24 * HOUR_MS);
}
