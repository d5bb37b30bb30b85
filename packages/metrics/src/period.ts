/**
 * The report period (METRICS.md, "Shared rules"): `date_from` inclusive; `date_to` inclusive as a
 * plain date (the whole day) and exclusive as a date-time; both read in the report's time zone
 * (`tz`, an IANA name, default UTC) unless they carry an offset. The result is the half-open
 * interval [start, end). Longer than 366 days, from after to, or unparsable: a `PeriodError`
 * naming the parameter.
 *
 * A bound left out (or empty) has a default, so that a first report call needs no dates: neither
 * given, the last 30 days in `tz` (`date_to` today, `date_from` the 29 days before it); `date_from`
 * alone, through today; `date_to` alone, the 30 days up to it.
 */

export interface PeriodInput {
  date_from?: string | undefined;
  date_to?: string | undefined;
  tz?: string | undefined;
}

export interface Period {
  /** Inclusive. */
  start: Date;
  /** Exclusive. */
  end: Date;
  timeZone: string;
}

/** The period's bounds as a request could have given them, the defaults filled in. */
export interface PeriodBounds {
  date_from: string;
  date_to: string;
  tz: string;
}

export const MAX_PERIOD_DAYS = 366;

/** Days of the default period, today included. */
export const DEFAULT_PERIOD_DAYS = 30;

/** A bad period parameter; `field` is the query parameter's name. */
export class PeriodError extends Error {
  constructor(
    readonly field: "date_from" | "date_to" | "tz",
    message: string,
  ) {
    super(message);
    this.name = "PeriodError";
  }
}

const PLAIN_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$/i;

interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

/** The request's period; `now` decides "today" for a bound left out. */
export function parsePeriod(input: PeriodInput, now: Date = new Date()): Period {
  return resolvePeriod(input, now).period;
}

/**
 * The request's bounds with the defaults filled in, checked like `parsePeriod` checks them: what a
 * job that computes the report later must store, so that it covers the period asked for today.
 */
export function periodBounds(input: PeriodInput, now: Date = new Date()): PeriodBounds {
  return resolvePeriod(input, now).bounds;
}

const given = (value: string | undefined): value is string => value !== undefined && value !== "";

function resolvePeriod(input: PeriodInput, now: Date): { period: Period; bounds: PeriodBounds } {
  const timeZone = given(input.tz) ? input.tz : "UTC";
  if (!isTimeZone(timeZone))
    throw new PeriodError("tz", `tz must be an IANA time zone name, got "${timeZone}"`);
  const toGiven = given(input.date_to);
  // A given date_from is read first, so that of two bad bounds it is the one named.
  const givenStart = given(input.date_from) ? parseBound(input.date_from, "date_from", timeZone) : undefined;
  const dateTo = given(input.date_to) ? input.date_to : today(now, timeZone);
  const end = parseBound(dateTo, "date_to", timeZone);
  const dateFrom = given(input.date_from) ? input.date_from : defaultFrom(dateTo, end, timeZone);
  const start = givenStart ?? parseBound(dateFrom, "date_from", timeZone);
  // A plain date_to ends where its day ends: a date_from at or past that is after it.
  const empty = PLAIN_DATE.test(dateTo) ? start >= end : start > end;
  if (empty) {
    throw new PeriodError(
      "date_from",
      toGiven ? "date_from is after date_to" : `date_from is after today in ${timeZone} (date_to's default)`,
    );
  }
  // 366 calendar days in the report's zone, so that a DST change inside the range does not count.
  const local = localTimeOf(start, timeZone);
  const limit = instantOf({ ...local, day: local.day + MAX_PERIOD_DAYS }, timeZone);
  if (end.getTime() > limit.getTime()) {
    // Named after the bound the client gave: a date_from alone runs to today.
    throw new PeriodError(
      toGiven ? "date_to" : "date_from",
      `the period is longer than ${MAX_PERIOD_DAYS} days`,
    );
  }
  return { period: { start, end, timeZone }, bounds: { date_from: dateFrom, date_to: dateTo, tz: timeZone } };
}

/** Today's date in `timeZone`, YYYY-MM-DD. */
function today(now: Date, timeZone: string): string {
  const local = localTimeOf(now, timeZone);
  return plainDate(local.year, local.month, local.day);
}

/**
 * The start of the DEFAULT_PERIOD_DAYS up to `dateTo`: the plain date that many days back, today
 * included, for a plain date_to; the instant that many calendar days before a date-time.
 */
function defaultFrom(dateTo: string, end: Date, timeZone: string): string {
  const plain = PLAIN_DATE.exec(dateTo);
  if (plain) {
    return plainDate(Number(plain[1]), Number(plain[2]), Number(plain[3]) - (DEFAULT_PERIOD_DAYS - 1));
  }
  const local = localTimeOf(end, timeZone);
  return instantOf({ ...local, day: local.day - DEFAULT_PERIOD_DAYS }, timeZone).toISOString();
}

/** YYYY-MM-DD of a calendar date; the day may overflow either way (day 0 is the month's eve). */
function plainDate(year: number, month: number, day: number): string {
  return new Date(Date.UTC(year, month - 1, day)).toISOString().slice(0, 10);
}

function parseBound(value: string, field: "date_from" | "date_to", timeZone: string): Date {
  const plain = PLAIN_DATE.exec(value);
  if (plain) {
    const local = checkedLocal(
      field,
      value,
      Number(plain[1]),
      Number(plain[2]),
      Number(plain[3]),
      0,
      0,
      0,
      0,
    );
    // A plain date_to covers its whole day: the period ends where the next day starts.
    return instantOf(field === "date_to" ? { ...local, day: local.day + 1 } : local, timeZone);
  }
  const timed = DATE_TIME.exec(value);
  if (!timed) {
    throw new PeriodError(
      field,
      `${field} must be a date (YYYY-MM-DD) or an ISO8601 date-time, got "${value}"`,
    );
  }
  const [, y, mo, d, h, mi, s, fraction, offset] = timed;
  const local = checkedLocal(
    field,
    value,
    Number(y),
    Number(mo),
    Number(d),
    Number(h),
    Number(mi),
    Number(s ?? 0),
    Number((fraction ?? "0").padEnd(3, "0").slice(0, 3)),
  );
  if (offset === undefined) return instantOf(local, timeZone);
  const utc = Date.UTC(
    local.year,
    local.month - 1,
    local.day,
    local.hour,
    local.minute,
    local.second,
    local.millisecond,
  );
  return new Date(utc - offsetMinutes(offset, field, value) * 60_000);
}

function checkedLocal(
  field: "date_from" | "date_to",
  value: string,
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millisecond: number,
): LocalTime {
  const probe = new Date(Date.UTC(year, month - 1, day));
  const valid =
    year >= 1970 &&
    probe.getUTCFullYear() === year &&
    probe.getUTCMonth() === month - 1 &&
    probe.getUTCDate() === day &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59;
  if (!valid) throw new PeriodError(field, `${field} is not a valid date or time: "${value}"`);
  return { year, month, day, hour, minute, second, millisecond };
}

function offsetMinutes(offset: string, field: "date_from" | "date_to", value: string): number {
  if (offset.toUpperCase() === "Z") return 0;
  const digits = offset.replace(":", "");
  const hours = Number(digits.slice(1, 3));
  const minutes = Number(digits.slice(3, 5));
  if (hours > 23 || minutes > 59)
    throw new PeriodError(field, `${field} has an invalid UTC offset: "${value}"`);
  return (offset.startsWith("-") ? -1 : 1) * (hours * 60 + minutes);
}

// ---------------------------------------------------------------------------------------------
// Time-zone arithmetic with Intl: the zone's offset at an instant, and the instant of a wall time.

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function isTimeZone(name: string): boolean {
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock time in `timeZone` at `instant`. */
export function localTimeOf(instant: Date, timeZone: string): LocalTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(instant)) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year ?? 1970,
    month: parts.month ?? 1,
    day: parts.day ?? 1,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
    millisecond: instant.getUTCMilliseconds(),
  };
}

/** Offset of `timeZone` from UTC at `instant`, in ms (positive east of Greenwich). */
function zoneOffsetMs(instant: number, timeZone: string): number {
  const l = localTimeOf(new Date(instant), timeZone);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second, l.millisecond);
  return asUtc - instant;
}

/**
 * The instant a wall-clock time in `timeZone` names (fields may overflow: day 32 is the next
 * month). A time skipped by a DST change maps to the instant after the gap; a repeated one to
 * one of its two occurrences.
 */
export function instantOf(local: LocalTime, timeZone: string): Date {
  const wall = Date.UTC(
    local.year,
    local.month - 1,
    local.day,
    local.hour,
    local.minute,
    local.second,
    local.millisecond,
  );
  const first = wall - zoneOffsetMs(wall, timeZone);
  const second = wall - zoneOffsetMs(first, timeZone);
  if (first === second) return new Date(first);
  // Across a change: a reading that maps back to this wall time, else (a skipped time) the later.
  const candidates = [Math.min(first, second), Math.max(first, second)];
  for (const t of candidates) {
    if (t + zoneOffsetMs(t, timeZone) === wall) return new Date(t);
  }
  return new Date(Math.max(first, second));
}
