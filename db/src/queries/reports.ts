import { type SQL, sql } from "drizzle-orm";
import { type Database, queryRows } from "../client";
import { NO_STEP } from "../schema";
import { countedEvent } from "./bot-sessions";
import { CONVERTER_OF_TYPE, segmentKey, UNIT, type UnitKind } from "./day-links";
import { productItems } from "./shared-rows";

/**
 * The figures the report routes are built from, read from the rollups (schema/aggregates.ts), not
 * from raw events. Quarter-hour rollups cover the whole quarter hours of the period; the at most
 * 15 minutes at either end that do not fill a quarter hour are read from the events table, so every
 * figure is exact to the millisecond of the period. The other rollups carry exact times.
 *
 * Buckets of `over_time` are given by the caller as their start instants; SQL places each row with
 * width_bucket, so the database and the report agree on bucket edges in every time zone.
 */

export interface ReportScope {
  accountId: string;
  funnelId: string;
  start: Date;
  end: Date;
  /**
   * Start instants of the report's time buckets, when a figure is read per bucket: a rollup level is
   * then used only where its buckets cannot straddle two report buckets.
   */
  buckets?: Date[] | undefined;
}

const QUARTER_HOUR_MS = 900_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

interface Level {
  table: string;
  ms: number;
}

/** A stretch of the period and the rollup table that answers it. */
interface Segment {
  table: string;
  from: string;
  to: string;
}

interface Cover {
  segments: Segment[];
  /** The unaligned ends, read from raw events. */
  raw: [string, string][];
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Splits the period into the coarsest rollup buckets that fit: whole days of the daily table,
 * then whole hours, then quarter hours, and raw events for what is left at the ends (less than a
 * quarter hour on each side). Levels are the table's, finest first.
 */
export function coverPeriod(scope: Pick<ReportScope, "start" | "end" | "buckets">, levels: Level[]): Cover {
  const s = scope.start.getTime();
  const e = scope.end.getTime();
  // A level may serve a bucketed figure only if every report bucket starts on its grid.
  const usable = levels.filter(
    (level, i) => i === 0 || (scope.buckets ?? []).every((b) => b.getTime() % level.ms === 0),
  );
  const finest = usable[0];
  if (!finest) return { segments: [], raw: [[iso(s), iso(e)]] };
  const fs = Math.ceil(s / finest.ms) * finest.ms;
  const fe = Math.floor(e / finest.ms) * finest.ms;
  if (fs >= fe) return { segments: [], raw: [[iso(s), iso(e)]] };
  const segments: Segment[] = [];
  const fill = (from: number, to: number, index: number): void => {
    if (from >= to) return;
    const level = usable[index];
    if (!level) return;
    if (index === 0) {
      segments.push({ table: level.table, from: iso(from), to: iso(to) });
      return;
    }
    const ls = Math.ceil(from / level.ms) * level.ms;
    const le = Math.floor(to / level.ms) * level.ms;
    if (ls >= le) {
      fill(from, to, index - 1);
      return;
    }
    segments.push({ table: level.table, from: iso(ls), to: iso(le) });
    fill(from, ls, index - 1);
    fill(le, to, index - 1);
  };
  fill(fs, fe, usable.length - 1);
  return {
    segments,
    raw: [
      [iso(s), iso(fs)],
      [iso(fe), iso(e)],
    ].filter(([a, b]) => a !== b) as [string, string][],
  };
}

const COUNT_LEVELS: Level[] = [
  { table: "agg_event_counts", ms: QUARTER_HOUR_MS },
  { table: "agg_event_counts_hourly", ms: HOUR_MS },
  { table: "agg_event_counts_daily", ms: DAY_MS },
];
const SESSION_LEVELS: Level[] = [
  { table: "agg_session_buckets", ms: QUARTER_HOUR_MS },
  { table: "agg_session_buckets_daily", ms: DAY_MS },
];
const STEP_LEVELS: Level[] = [
  { table: "agg_step_buckets", ms: QUARTER_HOUR_MS },
  { table: "agg_step_buckets_daily", ms: DAY_MS },
];

const ts = (value: string) => sql`${value}::timestamptz`;

/**
 * The rows of the scope's account and funnel in the table under `alias`: every read of events and
 * rollups names both, so that rows another account stored under the same funnel id are never
 * counted, whatever the catalog says about who owns the id now. The account comes first, like the
 * events table's index; the rollups' keys lead with the funnel and check the account on each row.
 */
function owned(scope: Pick<ReportScope, "accountId" | "funnelId">, alias?: string): SQL {
  const column = (name: string) => sql.raw(alias ? `${alias}.${name}` : name);
  return sql`${column("account_id")} = ${scope.accountId}::uuid and ${column("funnel_id")} = ${scope.funnelId}::uuid`;
}

function periodBounds(scope: ReportScope) {
  return { start: scope.start.toISOString(), end: scope.end.toISOString() };
}

/** Raw, counted events of the funnel in the given stretches. */
function rawEvents(scope: ReportScope, stretches: [string, string][], extra: SQL = sql``): SQL {
  const within =
    stretches.length === 0
      ? sql`false`
      : sql.join(
          stretches.map(([from, to]) => sql`(created_at >= ${ts(from)} and created_at < ${ts(to)})`),
          sql` or `,
        );
  return sql`select * from analytics_events e
    where ${owned(scope, "e")}
      and ${countedEvent("e")} ${extra} and (${within})`;
}

/** `columns` of each segment's table, union all. */
function fromSegments(scope: ReportScope, segments: Segment[], columns: string, where: SQL = sql``): SQL[] {
  return segments.map(
    (seg) => sql`select ${sql.raw(columns)} from ${sql.raw(seg.table)}
      where ${owned(scope)} and bucket >= ${ts(seg.from)} and bucket < ${ts(seg.to)} ${where}`,
  );
}

function unionAll(parts: SQL[]): SQL {
  return sql`(${sql.join(parts, sql` union all `)})`;
}

/** (visitor_id, session_id, at): who was there, per rollup bucket or per raw event. */
function sessionRows(scope: ReportScope): SQL {
  const cover = coverPeriod(scope, SESSION_LEVELS);
  return unionAll([
    ...fromSegments(scope, cover.segments, "visitor_id, session_id, bucket as at"),
    sql`select visitor_id, session_id::text as session_id, created_at as at from (${rawEvents(scope, cover.raw)}) r`,
  ]);
}

/** (step_id, visitor_id, session_id, first_entry_at, at): step entries. */
function stepRows(scope: ReportScope, stepId?: string): SQL {
  const cover = coverPeriod(scope, STEP_LEVELS);
  const step = stepId ? sql`and step_id = ${stepId}::uuid` : sql``;
  const rawStep = stepId ? sql`and funnel_step_id = ${stepId}::uuid` : sql``;
  return unionAll([
    ...fromSegments(
      scope,
      cover.segments,
      "step_id, visitor_id, session_id, first_entry_at, bucket as at",
      step,
    ),
    sql`select funnel_step_id as step_id, visitor_id, session_id::text as session_id, created_at as first_entry_at,
      created_at as at
    from (${rawEvents(scope, cover.raw, sql`and event_type = 'step_entry' and funnel_step_id is not null ${rawStep}`)}) r`,
  ]);
}

/** (event_type, step_id, conversion_type, exit_outcome, at, events, value_cents). */
function countRows(scope: ReportScope, stepId?: string): SQL {
  const cover = coverPeriod(scope, COUNT_LEVELS);
  const step = stepId ? sql`and step_id = ${stepId}::uuid` : sql``;
  const rawStep = stepId ? sql`and funnel_step_id = ${stepId}::uuid` : sql``;
  return unionAll([
    ...fromSegments(
      scope,
      cover.segments,
      "event_type, step_id, conversion_type, exit_outcome, bucket as at, events, value_cents",
      step,
    ),
    sql`select event_type::text as event_type, coalesce(funnel_step_id, ${NO_STEP}::uuid) as step_id,
      coalesce(conversion_type, '')::text as conversion_type, coalesce(exit_outcome, '')::text as exit_outcome,
      created_at as at, 1::bigint as events, coalesce(value_cents, 0)::bigint as value_cents
    from (${rawEvents(scope, cover.raw, rawStep)}) r`,
  ]);
}

/** Conversions (`kind` conversion or refund) with exact times inside the period. */
function conversionRows(scope: ReportScope, kind: "conversion" | "refund", extra: SQL = sql``): SQL {
  const p = periodBounds(scope);
  return sql`(select * from agg_conversions
    where ${owned(scope)} and kind = ${kind}
      and at >= ${ts(p.start)} and at < ${ts(p.end)} ${extra})`;
}

function inPeriod(column: string, scope: ReportScope): SQL {
  const p = periodBounds(scope);
  return sql`${sql.raw(column)} >= ${ts(p.start)} and ${sql.raw(column)} < ${ts(p.end)}`;
}

/** 1-based index of the bucket holding `column`, given the buckets' start instants. */
function bucketOf(column: SQL | string, buckets: Date[]): SQL {
  const col = typeof column === "string" ? sql.raw(column) : column;
  // The scalar subquery is an init plan: the array is parsed once, not for every row.
  return sql`width_bucket(${col}, (select ${sql.param(buckets.map((b) => b.toISOString()))}::text[]::timestamptz[]))`;
}

const int = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

// ---------------------------------------------------------------------------------------------
// Distinct units over whole days, from the day links (schema/aggregates.ts: agg_day_links).

interface WholeDays {
  from: string;
  to: string;
  /** The parts of the period before and after the whole days, each shorter than a day. */
  ends: ReportScope[];
}

/** The whole UTC days [from, to) inside the period, and what is left at its ends; null when none. */
function wholeDays(scope: ReportScope): WholeDays | null {
  const s = scope.start.getTime();
  const e = scope.end.getTime();
  const from = Math.ceil(s / DAY_MS) * DAY_MS;
  const to = Math.floor(e / DAY_MS) * DAY_MS;
  if (from >= to) return null;
  const ends = [
    [s, from],
    [to, e],
  ]
    .filter(([a, b]) => (a as number) < (b as number))
    .map(([a, b]) => ({
      ...scope,
      start: new Date(a as number),
      end: new Date(b as number),
      buckets: undefined,
    }));
  return { from: iso(from), to: iso(to), ends };
}

const NO_SESSION_ROWS = sql`(select null::uuid as visitor_id, null::text as session_id, null::timestamptz as at where false)`;

/**
 * Units of `kind` seen in the whole days, per step: each is counted on its first day there, the one
 * day whose previous day seen comes before them.
 */
function linkedUnits(scope: ReportScope, days: WholeDays, kind: UnitKind, stepId: string = NO_STEP): SQL {
  return sql`select coalesce(sum(units), 0) from agg_day_links
    where ${owned(scope)} and kind = ${kind} and step_id = ${stepId}::uuid
      and bucket >= ${ts(days.from)} and bucket < ${ts(days.to)} and prev_bucket < ${ts(days.from)}`;
}

/** The unit (and step) was not seen in the whole days. */
function notSeenIn(
  scope: ReportScope,
  days: WholeDays,
  kind: UnitKind,
  unit: SQL,
  stepId: SQL = sql`${NO_STEP}::uuid`,
): SQL {
  return sql`not exists (select 1 from agg_active_days a
    where ${owned(scope, "a")} and a.unit = ${unit} and a.kind = ${kind} and a.step_id = ${stepId}
      and a.bucket >= ${ts(days.from)} and a.bucket < ${ts(days.to)})`;
}

/**
 * (b, visitors): units per bucket from the day links alone, when every bucket's part of the period
 * is made of whole UTC days; null otherwise.
 */
function linkedUnitsByBucket(
  scope: ReportScope,
  buckets: Date[],
  kind: UnitKind,
  stepId: string = NO_STEP,
): SQL | null {
  const s = scope.start.getTime();
  const e = scope.end.getTime();
  const froms: string[] = [];
  for (const [i, b] of buckets.entries()) {
    const from = Math.max(b.getTime(), s);
    const to = Math.min(buckets[i + 1]?.getTime() ?? e, e);
    if (from % DAY_MS !== 0 || to % DAY_MS !== 0) return null;
    froms.push(iso(from));
  }
  const first = froms[0];
  if (first === undefined) return null;
  // The buckets' parts are back to back: bucket b holds [froms[b], froms[b + 1]), the last one up
  // to the end of the period. A unit counts in b on its first day there.
  const starts = sql`(select ${sql.param(froms)}::text[]::timestamptz[])`;
  return sql`select b, sum(units) as visitors from (
      select width_bucket(bucket, ${starts}) as b, prev_bucket, units from agg_day_links
      where ${owned(scope)} and kind = ${kind} and step_id = ${stepId}::uuid
        and bucket >= ${ts(first)} and bucket < ${ts(iso(e))}
    ) x
    where prev_bucket < ${starts}[b]
    group by b`;
}

// ---------------------------------------------------------------------------------------------

export interface VisitorTotals {
  unique: number;
  sessions: number;
  new: number;
}

export async function visitorTotals(db: Database, scope: ReportScope): Promise<VisitorTotals> {
  const fresh = sql`(select count(*) from agg_funnel_visitors
    where ${owned(scope)} and ${inPeriod("first_seen_at", scope)})`;
  const days = wholeDays(scope);
  if (!days) {
    const [row] = await queryRows<{ unique: number; sessions: number; fresh: number }>(
      db,
      sql`with v as materialized (select visitor_id, session_id from ${sessionRows(scope)} x)
        select
          (select count(*) from (select distinct visitor_id from v) d) as unique,
          (select count(*) from (select distinct session_id from v) d) as sessions,
          ${fresh} as fresh`,
    );
    return { unique: int(row?.unique), sessions: int(row?.sessions), new: int(row?.fresh) };
  }
  // Whole days from the day links; the ends (less than a day each) from the rows that cover them,
  // less the visitors and sessions also seen in the whole days.
  const ends = days.ends.length === 0 ? NO_SESSION_ROWS : unionAll(days.ends.map((end) => sessionRows(end)));
  const [row] = await queryRows<{ unique: string; sessions: string; fresh: number }>(
    db,
    sql`with v as materialized (select visitor_id, session_id from ${ends} x)
      select
        (${linkedUnits(scope, days, UNIT.visitor)})
          + (select count(*) from (select distinct visitor_id from v) d
            where ${notSeenIn(scope, days, UNIT.visitor, sql`d.visitor_id::text`)}) as unique,
        (${linkedUnits(scope, days, UNIT.session)})
          + (select count(*) from (select distinct session_id from v) d
            where ${notSeenIn(scope, days, UNIT.session, sql`d.session_id`)}) as sessions,
        ${fresh} as fresh`,
  );
  return { unique: int(row?.unique), sessions: int(row?.sessions), new: int(row?.fresh) };
}

/** Distinct visitors per bucket. */
export async function visitorsByBucket(
  db: Database,
  scope: ReportScope,
  buckets: Date[],
): Promise<Map<number, number>> {
  const linked = linkedUnitsByBucket(scope, buckets, UNIT.visitor);
  const rows = await queryRows<{ b: number; visitors: number }>(
    db,
    linked ??
      sql`select b, count(*) as visitors from (
          select distinct ${bucketOf("at", buckets)} as b, visitor_id from ${sessionRows({ ...scope, buckets })} x
        ) d group by b`,
  );
  return new Map(rows.map((r) => [int(r.b), int(r.visitors)]));
}

export interface EventCount {
  eventType: string;
  stepId: string | null;
  conversionType: string;
  exitOutcome: string;
  /** 1-based bucket, or 0 when not asked by bucket. */
  bucket: number;
  events: number;
  valueCents: number;
}

export async function eventCounts(
  db: Database,
  scope: ReportScope,
  options: { buckets?: Date[]; stepId?: string } = {},
): Promise<EventCount[]> {
  const bucket = options.buckets ? bucketOf("at", options.buckets) : sql`0`;
  const rows = await queryRows<{
    event_type: string;
    step_id: string;
    conversion_type: string;
    exit_outcome: string;
    b: number;
    events: string;
    value_cents: string;
  }>(
    db,
    sql`select event_type, step_id, conversion_type, exit_outcome, ${bucket} as b,
        sum(events)::text as events, sum(value_cents)::text as value_cents
      from ${countRows({ ...scope, buckets: options.buckets }, options.stepId)} x
      group by 1, 2, 3, 4, 5`,
  );
  return rows.map((r) => ({
    eventType: r.event_type,
    stepId: r.step_id === NO_STEP ? null : r.step_id,
    conversionType: r.conversion_type,
    exitOutcome: r.exit_outcome,
    bucket: int(r.b),
    events: int(r.events),
    valueCents: int(r.value_cents),
  }));
}

export interface StepVisitorFigures {
  stepId: string;
  visitors: number;
  /** Of those, visitors whose latest conversion in the period is at or after their first entry. */
  converted: number;
}

export async function stepVisitors(
  db: Database,
  scope: ReportScope,
  stepId?: string,
): Promise<StepVisitorFigures[]> {
  const days = wholeDays(scope);
  if (!days) return stepVisitorsScanned(db, scope, stepId);
  // Whole days from the day links, the ends from the rows that cover them (less the step visitors
  // also seen in the whole days); who converted, from the period's converters.
  const step = stepId ? sql`and step_id = ${stepId}::uuid` : sql``;
  const ends = days.ends.map((end) => stepRows(end, stepId));
  const [visitors, converted] = await Promise.all([
    queryRows<{ step_id: string; visitors: string }>(
      db,
      sql`select step_id, sum(n)::text as visitors from (
          select step_id, sum(units) as n from agg_day_links
          where ${owned(scope)} and kind = ${UNIT.stepVisitor} ${step}
            and bucket >= ${ts(days.from)} and bucket < ${ts(days.to)} and prev_bucket < ${ts(days.from)}
          group by step_id
          ${
            ends.length === 0
              ? sql``
              : sql`union all
                select step_id, count(*) from (select distinct step_id, visitor_id from ${unionAll(ends)} x) d
                where ${notSeenIn(scope, days, UNIT.stepVisitor, sql`d.visitor_id::text`, sql`d.step_id`)}
                group by step_id`
          }
        ) x group by step_id`,
    ),
    days.ends.length === 0
      ? convertedInDays(db, scope, days, stepId)
      : convertedStepVisitors(db, scope, stepId),
  ]);
  const byStep = new Map(converted.map((r) => [r.step_id, int(r.converted)]));
  return visitors.map((r) => ({
    stepId: r.step_id,
    visitors: int(r.visitors),
    converted: byStep.get(r.step_id) ?? 0,
  }));
}

/**
 * Step visitors of whole days who converted after their first entry there (agg_step_converted_days):
 * those whose last conversion in the days falls on a row's day (the day is in them, the next day
 * they converted is not) and whose latest entry before it is in them too.
 */
function convertedInDays(db: Database, scope: ReportScope, days: WholeDays, stepId?: string) {
  const step = stepId ? sql`and step_id = ${stepId}::uuid` : sql``;
  return queryRows<{ step_id: string; converted: string }>(
    db,
    sql`select step_id, sum(visitors)::text as converted from agg_step_converted_days
      where ${owned(scope)} ${step}
        and bucket >= ${ts(days.from)} and bucket < ${ts(days.to)}
        and next_bucket >= ${ts(days.to)} and entry_bucket >= ${ts(days.from)}
      group by step_id`,
  );
}

/**
 * A visitor whose first or last entry into the step falls in the period entered it in the period;
 * one whose entries straddle the whole period is looked up in its visits. Likewise its first entry
 * in the period is its first entry, unless that came before the period.
 */
function visitIn(scope: ReportScope, until: SQL): SQL {
  return sql`exists (select 1 from agg_step_visits v
    where ${owned(scope, "v")} and v.visitor_id = x.visitor_id and v.step_id = x.step_id
      and v.entry_at >= ${ts(periodBounds(scope).start)} and ${until})`;
}

/** Step visitors and those who converted, from every step visitor whose entries overlap the period. */
async function stepVisitorsScanned(
  db: Database,
  scope: ReportScope,
  stepId?: string,
): Promise<StepVisitorFigures[]> {
  const p = periodBounds(scope);
  const [start, end] = [ts(p.start), ts(p.end)];
  const step = stepId ? sql`and step_id = ${stepId}::uuid` : sql``;
  const rows = await queryRows<{ step_id: string; visitors: number; converted: number }>(
    db,
    sql`with converters as (${convertersIn(scope)}),
      x as (
        select a.step_id, a.visitor_id, a.first_entry_at, a.last_entry_at, c.last_conversion
        from agg_step_visitors a left join converters c using (visitor_id)
        where ${owned(scope, "a")} ${step}
          and a.first_entry_at < ${end} and a.last_entry_at >= ${start}
      )
      select step_id,
        count(*) filter (where first_entry_at >= ${start} or last_entry_at < ${end}
          or ${visitIn(scope, sql`v.entry_at < ${end}`)}) as visitors,
        count(*) filter (where last_conversion is not null and (
          case when first_entry_at >= ${start} then last_conversion >= first_entry_at
            else ${visitIn(scope, sql`v.entry_at <= x.last_conversion`)} end)) as converted
      from x
      group by step_id`,
  );
  return rows.map((r) => ({ stepId: r.step_id, visitors: int(r.visitors), converted: int(r.converted) }));
}

/**
 * Step visitors of the period whose last conversion in the period comes at or after their first
 * entry in it, per step: read from the period's converters, who are few beside the visitors.
 */
function convertedStepVisitors(db: Database, scope: ReportScope, stepId?: string) {
  const p = periodBounds(scope);
  const [start, end] = [ts(p.start), ts(p.end)];
  const steps = stepId
    ? sql`${stepId}::uuid`
    : sql`any(select id from funnel_steps where funnel_id = ${scope.funnelId}::uuid)`;
  return queryRows<{ step_id: string; converted: number }>(
    db,
    sql`with converters as materialized (${convertersIn(scope)}),
      x as (
        select a.step_id, a.visitor_id, a.first_entry_at, c.last_conversion
        from converters c
        join agg_step_visitors a on ${owned(scope, "a")} and a.step_id = ${steps}
          and a.visitor_id = c.visitor_id
        where a.first_entry_at < ${end} and a.last_entry_at >= ${start}
      )
      select step_id, count(*) filter (where
          case when first_entry_at >= ${start} then last_conversion >= first_entry_at
            else ${visitIn(scope, sql`v.entry_at <= x.last_conversion`)} end) as converted
      from x
      group by step_id`,
  );
}

/**
 * (visitor_id, last_conversion): visitors with a conversion in the period, and their last one
 * there. A visitor whose last conversion falls in the period is read from agg_converters alone;
 * one whose conversions also go on after it is looked up in its conversions.
 */
function convertersIn(scope: ReportScope): SQL {
  const p = periodBounds(scope);
  const [start, end] = [ts(p.start), ts(p.end)];
  // Two plain parts rather than a correlated subquery, so the planner may scan in parallel.
  return sql`select visitor_id, last_conversion_at as last_conversion from agg_converters
      where ${owned(scope)} and last_conversion_at >= ${start} and last_conversion_at < ${end}
    union all
    select c.visitor_id, max(c.at) as last_conversion
    from agg_converters a
    join agg_conversions c on ${owned(scope, "c")} and c.visitor_id = a.visitor_id
    where ${owned(scope, "a")} and a.first_conversion_at < ${end} and a.last_conversion_at >= ${end}
      and c.kind = 'conversion' and c.at >= ${start} and c.at < ${end}
    group by c.visitor_id`;
}

/** Distinct visitors entering the step, per bucket. */
export async function stepVisitorsByBucket(
  db: Database,
  scope: ReportScope,
  stepId: string,
  buckets: Date[],
): Promise<Map<number, number>> {
  const linked = linkedUnitsByBucket(scope, buckets, UNIT.stepVisitor, stepId);
  const rows = await queryRows<{ b: number; visitors: number }>(
    db,
    linked ??
      sql`select b, count(*) as visitors from (
          select distinct ${bucketOf("at", buckets)} as b, visitor_id
          from ${stepRows({ ...scope, buckets }, stepId)} x
        ) d group by b`,
  );
  return new Map(rows.map((r) => [int(r.b), int(r.visitors)]));
}

export interface StepTimes {
  stepId: string;
  bucket: number;
  /** Exited visits. */
  visits: number;
  totalMs: number;
}

/**
 * Exited step visits that entered in the period, per step (and per bucket when asked): whole UTC
 * days from agg_step_times_daily, the rest from the visits themselves (exact times).
 */
export async function stepTimes(
  db: Database,
  scope: ReportScope,
  options: { buckets?: Date[]; stepId?: string } = {},
): Promise<StepTimes[]> {
  const cover = coverPeriod({ ...scope, buckets: options.buckets }, [
    { table: "agg_step_visits", ms: 1 },
    { table: "agg_step_times_daily", ms: DAY_MS },
  ]);
  const step = options.stepId ? sql`and step_id = ${options.stepId}::uuid` : sql``;
  const parts = cover.segments.map((seg) =>
    seg.table === "agg_step_visits"
      ? sql`select step_id, entry_at as at, 1::bigint as visits, duration_ms as total_ms from agg_step_visits
          where ${owned(scope)} and entry_at >= ${ts(seg.from)} and entry_at < ${ts(seg.to)}
            and exit_at is not null ${step}`
      : sql`select step_id, bucket as at, visits, total_ms from agg_step_times_daily
          where ${owned(scope)} and bucket >= ${ts(seg.from)} and bucket < ${ts(seg.to)} ${step}`,
  );
  if (parts.length === 0) return [];
  const bucket = options.buckets ? bucketOf("at", options.buckets) : sql`0`;
  const rows = await queryRows<{ step_id: string; b: number; visits: string; total_ms: string }>(
    db,
    sql`select step_id, ${bucket} as b, sum(visits)::text as visits, sum(total_ms)::text as total_ms
      from ${unionAll(parts)} x
      group by 1, 2
      having sum(visits) > 0`,
  );
  return rows.map((r) => ({
    stepId: r.step_id,
    bucket: int(r.b),
    visits: int(r.visits),
    totalMs: int(r.total_ms),
  }));
}

/** Median time of the step's exited visits, in ms; null when none. */
export async function medianStepTimeMs(
  db: Database,
  scope: ReportScope,
  stepId: string,
): Promise<number | null> {
  const [row] = await queryRows<{ median: number | null }>(
    db,
    sql`select percentile_cont(0.5) within group (order by duration_ms) as median
      from agg_step_visits
      where ${owned(scope)} and step_id = ${stepId}::uuid
        and ${inPeriod("entry_at", scope)} and exit_at is not null`,
  );
  return row?.median === null || row?.median === undefined ? null : Number(row.median);
}

export type Dimension = "source" | "device" | "browser";

/** Step visitors per source, device and browser of the sessions they entered the step in. */
export async function stepVisitorsBySegment(
  db: Database,
  scope: ReportScope,
  stepId: string,
): Promise<{ dimension: Dimension; value: string; visitors: number }[]> {
  const days = wholeDays(scope);
  if (!days) return stepVisitorsBySegmentScanned(db, scope, stepId);
  // Whole days from the segment day links: for each value the step's visits had there (the daily
  // segment table lists them), its links; the ends from the visits there, less the visitors the
  // links already count for that value.
  const step = sql`${stepId}::uuid`;
  const key = segmentKey(`'${stepId.replace(/[^0-9a-fA-F-]/g, "")}'::uuid`, "d.dimension", "d.value");
  const ends = days.ends.map(
    (end) => sql`select visitor_id, source, device_type, browser from agg_step_visits
      where ${owned(scope)} and step_id = ${step} and ${inPeriod("entry_at", end)}`,
  );
  const rows = await queryRows<{ dimension: Dimension; value: string; visitors: string }>(
    db,
    sql`select dimension, value, sum(n)::text as visitors from (
        select d.dimension, d.value, (
            select coalesce(sum(units), 0) from agg_day_links l
            where ${owned(scope, "l")} and l.kind = ${UNIT.segmentStepVisitor} and l.step_id = ${key}
              and l.bucket >= ${ts(days.from)} and l.bucket < ${ts(days.to)} and l.prev_bucket < ${ts(days.from)}
          ) as n
        from (select distinct dimension::text as dimension, value from agg_step_segments_daily
          where ${owned(scope)} and step_id = ${step} and bucket >= ${ts(days.from)} and bucket < ${ts(days.to)}) d
        ${
          ends.length === 0
            ? sql``
            : sql`union all
              select d.dimension, d.value, count(*) from (
                select distinct x.dimension, x.value, v.visitor_id from (${unionAll(ends)}) v
                cross join lateral (values ('source', v.source), ('device', v.device_type::text), ('browser', v.browser::text))
                  as x(dimension, value)
              ) d
              where not exists (select 1 from agg_active_days a
                where ${owned(scope, "a")} and a.unit = d.visitor_id::text and a.kind = ${UNIT.segmentStepVisitor}
                  and a.step_id = ${key} and a.bucket >= ${ts(days.from)} and a.bucket < ${ts(days.to)})
              group by d.dimension, d.value`
        }
      ) x
      group by dimension, value
      having sum(n) > 0`,
  );
  return rows.map((r) => ({ dimension: r.dimension, value: r.value, visitors: int(r.visitors) }));
}

/** stepVisitorsBySegment for a period without a whole UTC day: from the step's visits. */
async function stepVisitorsBySegmentScanned(
  db: Database,
  scope: ReportScope,
  stepId: string,
): Promise<{ dimension: Dimension; value: string; visitors: number }[]> {
  // One pass over the step's visits; each dimension's (value, visitor) pairs are made distinct by
  // hashing, which costs a third of count(distinct) over grouping sets (a sort per set).
  const rows = await queryRows<{ dimension: Dimension; value: string | null; visitors: string }>(
    db,
    sql`with v as (
        select visitor_id, source, device_type, browser from agg_step_visits
        where ${owned(scope)} and step_id = ${stepId}::uuid and ${inPeriod("entry_at", scope)}
      )
      select 'source' as dimension, value, count(*)::text as visitors
      from (select distinct source as value, visitor_id from v) x group by value
      union all
      select 'device', value, count(*)::text from (select distinct device_type::text as value, visitor_id from v) x group by value
      union all
      select 'browser', value, count(*)::text from (select distinct browser::text as value, visitor_id from v) x group by value`,
  );
  return rows.map((r) => ({ dimension: r.dimension, value: r.value ?? "", visitors: int(r.visitors) }));
}

/** Whole UTC days from a daily table, the rest (exact times) from `exact`. */
function dailyOrExact(scope: ReportScope, exact: string, daily: string): Segment[] {
  return coverPeriod(scope, [
    { table: exact, ms: 1 },
    { table: daily, ms: DAY_MS },
  ]).segments;
}

/** Step events (entries or exits) with exact times, or per day, as (step, other step, outcome, reason, events). */
function stepPathRows(scope: ReportScope, where: SQL): SQL {
  const parts = dailyOrExact(scope, "agg_step_events", "agg_step_paths_daily").map((seg) =>
    seg.table === "agg_step_events"
      ? sql`select step_id, kind, case kind when 'entry' then previous_step_id else next_step_id end as other_step_id,
            exit_outcome, reason, 1::bigint as events
          from agg_step_events
          where ${owned(scope)} and at >= ${ts(seg.from)} and at < ${ts(seg.to)} ${where}`
      : sql`select step_id, kind, nullif(other_step_id, ${NO_STEP}::uuid) as other_step_id,
            nullif(exit_outcome, '') as exit_outcome, nullif(reason, '') as reason, events
          from agg_step_paths_daily
          where ${owned(scope)} and bucket >= ${ts(seg.from)} and bucket < ${ts(seg.to)} ${where}`,
  );
  return parts.length === 0
    ? sql`(select null::uuid as step_id, null::text as kind, null::uuid as other_step_id,
      null::text as exit_outcome, null::text as reason, 0::bigint as events where false)`
    : unionAll(parts);
}

/** The step's entries by previous step, or its exits by next step. */
export async function stepPaths(
  db: Database,
  scope: ReportScope,
  stepId: string,
  kind: "entry" | "exit",
): Promise<{ stepId: string | null; count: number }[]> {
  const rows = await queryRows<{ step: string | null; count: string }>(
    db,
    sql`select other_step_id as step, sum(events)::text as count
      from ${stepPathRows(scope, sql`and step_id = ${stepId}::uuid and kind = ${kind}`)} x
      group by 1`,
  );
  return rows.map((r) => ({ stepId: r.step, count: int(r.count) }));
}

/** Exits that left the funnel or went back, by reason (metadata.reason, else the outcome). */
export async function exitReasons(
  db: Database,
  scope: ReportScope,
): Promise<{ stepId: string; reason: string; fromMetadata: boolean; count: number }[]> {
  const rows = await queryRows<{ step_id: string; reason: string; from_metadata: boolean; count: string }>(
    db,
    sql`select step_id, coalesce(reason, exit_outcome) as reason, reason is not null as from_metadata,
        sum(events)::text as count
      from ${stepPathRows(scope, sql`and kind = 'exit' and exit_outcome in ('bounce', 'close', 'backward')`)} x
      group by 1, 2, 3`,
  );
  return rows.map((r) => ({
    stepId: r.step_id,
    reason: r.reason,
    fromMetadata: r.from_metadata === true || String(r.from_metadata) === "true",
    count: int(r.count),
  }));
}

/** Step visits and those dropping off, per step and segment value of each dimension. */
export async function dropOffsBySegment(
  db: Database,
  scope: ReportScope,
): Promise<{ stepId: string; dimension: Dimension; value: string; visits: number; dropOffs: number }[]> {
  const parts = dailyOrExact(scope, "agg_step_visits", "agg_step_segments_daily").map((seg) =>
    seg.table === "agg_step_visits"
      ? sql`select v.step_id, d.dimension, d.value, 1::bigint as visits,
            (v.exit_outcome in ('bounce', 'close'))::int::bigint as drops
          from agg_step_visits v
          cross join lateral (values ('source', v.source), ('device', v.device_type::text), ('browser', v.browser::text))
            as d(dimension, value)
          where ${owned(scope, "v")} and v.entry_at >= ${ts(seg.from)} and v.entry_at < ${ts(seg.to)}`
      : sql`select step_id, dimension::text as dimension, value, visits, drops from agg_step_segments_daily
          where ${owned(scope)} and bucket >= ${ts(seg.from)} and bucket < ${ts(seg.to)}`,
  );
  if (parts.length === 0) return [];
  const rows = await queryRows<{
    step_id: string;
    dimension: Dimension;
    value: string;
    visits: string;
    drops: string;
  }>(
    db,
    sql`select step_id, dimension, value, sum(visits)::text as visits, sum(coalesce(drops, 0))::text as drops
      from ${unionAll(parts)} x
      group by 1, 2, 3
      having sum(visits) > 0`,
  );
  return rows.map((r) => ({
    stepId: r.step_id,
    dimension: r.dimension,
    value: r.value,
    visits: int(r.visits),
    dropOffs: int(r.drops),
  }));
}

// ---------------------------------------------------------------------------------------------
// Conversions and revenue.

export interface ConversionTotals {
  conversions: number;
  valueCents: number;
  /** Conversions that carry a value. */
  valued: number;
  converters: number;
}

export async function conversionTotals(db: Database, scope: ReportScope): Promise<ConversionTotals> {
  const [row] = await queryRows<{
    n: string | null;
    value: string | null;
    valued: string | null;
    converters: string;
  }>(
    db,
    sql`select sum(n)::text as n, sum(value)::text as value, sum(valued)::text as valued,
        (${convertersCount(scope)})::text as converters
      from ${conversionCountRows(scope, "conversion")} c`,
  );
  return {
    conversions: int(row?.n),
    valueCents: int(row?.value),
    valued: int(row?.valued),
    converters: int(row?.converters),
  };
}

/**
 * Conversions (or refunds) of the period as counts: whole UTC days from agg_conversions_daily, the
 * rest a row per conversion. Columns conversion_type and step_id (null when none), source, at, n,
 * value, valued, orders, order_cents. With `scope.buckets`, days only where they fit the buckets.
 */
function conversionCountRows(scope: ReportScope, kind: "conversion" | "refund"): SQL {
  const parts = dailyOrExact(scope, "agg_conversions", "agg_conversions_daily").map((seg) =>
    seg.table === "agg_conversions"
      ? sql`select conversion_type::text as conversion_type, step_id, source, at, 1::bigint as n,
            coalesce(value_cents, 0)::bigint as value, (value_cents is not null)::int::bigint as valued,
            coalesce(value_cents > 0, false)::int::bigint as orders, greatest(coalesce(value_cents, 0), 0)::bigint as order_cents
          from agg_conversions
          where ${owned(scope)} and kind = ${kind}
            and at >= ${ts(seg.from)} and at < ${ts(seg.to)}`
      : sql`select nullif(conversion_type, '') as conversion_type, nullif(step_id, ${NO_STEP}::uuid) as step_id,
            source, bucket as at, conversions as n, value_cents as value, valued, orders, order_cents
          from agg_conversions_daily
          where ${owned(scope)} and kind = ${kind}
            and bucket >= ${ts(seg.from)} and bucket < ${ts(seg.to)}`,
  );
  return parts.length === 0
    ? sql`(select null::text as conversion_type, null::uuid as step_id, null::text as source,
      null::timestamptz as at, 0::bigint as n, 0::bigint as value, 0::bigint as valued, 0::bigint as orders,
      0::bigint as order_cents where false)`
    : unionAll(parts);
}

/** Distinct visitors with a conversion in the period. */
function convertersCount(scope: ReportScope): SQL {
  const days = wholeDays(scope);
  if (!days) return sql`select count(*) from (${convertersIn(scope)}) v`;
  // Whole days from the day links; the ends from the conversions there, less the visitors who
  // also converted in the whole days.
  const ends = days.ends.map((end) => conversionRows(end, "conversion"));
  return sql`(${linkedUnits(scope, days, UNIT.converter)}) + ${
    ends.length === 0
      ? sql`0`
      : sql`(select count(*) from (select distinct visitor_id from ${unionAll(ends)} c) d
          where ${notSeenIn(scope, days, UNIT.converter, sql`d.visitor_id::text`)})`
  }`;
}

export interface ConversionGroup {
  count: number;
  valueCents: number;
  /** Conversions that carry a value. */
  valued: number;
  /** Distinct visitors (0 unless asked). */
  visitors: number;
  /** Conversions with a value above 0, and their value. */
  orders: number;
  orderCents: number;
}

export interface ConversionBreakdown {
  total: ConversionGroup;
  byType: Map<string, ConversionGroup>;
  /** Conversions that belong to a step. */
  byStep: Map<string, ConversionGroup>;
  /** 1-based bucket. */
  byBucket: Map<number, ConversionGroup>;
}

const NO_CONVERSIONS: ConversionGroup = {
  count: 0,
  valueCents: 0,
  valued: 0,
  visitors: 0,
  orders: 0,
  orderCents: 0,
};

/**
 * The period's conversions in total, by type, by step and by bucket: counts and values from
 * conversionCountRows in one pass (grouping sets); distinct visitors, when asked, from the day
 * links where the period allows (in total, and per bucket of whole days), else from the
 * conversions themselves.
 */
export async function conversionBreakdown(
  db: Database,
  scope: ReportScope,
  buckets: Date[],
  options: { visitors: boolean },
): Promise<ConversionBreakdown> {
  type Row = {
    g: number;
    conversion_type: string | null;
    step_id: string | null;
    b: number | null;
    n?: string | null;
    value?: string | null;
    valued?: string | null;
    visitors?: string | null;
    orders?: string | null;
    order_value?: string | null;
  };
  const counted = queryRows<Row>(
    db,
    sql`select grouping(conversion_type, step_id, b) as g, conversion_type, step_id, b,
        sum(n)::text as n, sum(value)::text as value, sum(valued)::text as valued,
        sum(orders)::text as orders, sum(order_cents)::text as order_value
      from (select c.*, ${bucketOf("at", buckets)} as b from ${conversionCountRows({ ...scope, buckets }, "conversion")} c) x
      group by grouping sets ((), (conversion_type), (step_id), (b))
      having sum(n) > 0`,
  );
  const distinct = options.visitors ? distinctConverters(db, scope, buckets) : Promise.resolve([]);
  const [rows, visitors] = await Promise.all([counted, distinct]);
  const result: ConversionBreakdown = {
    total: NO_CONVERSIONS,
    byType: new Map(),
    byStep: new Map(),
    byBucket: new Map(),
  };
  // grouping(): a bit per argument left out of the row's grouping set, the first the highest.
  const groupOf = (r: Row): Map<string | number, ConversionGroup> | "total" | null => {
    const g = int(r.g);
    if (g === 7) return "total";
    if (g === 3 && r.conversion_type !== null) return result.byType as Map<string | number, ConversionGroup>;
    if (g === 5 && r.step_id !== null) return result.byStep as Map<string | number, ConversionGroup>;
    if (g === 6 && r.b !== null) return result.byBucket as Map<string | number, ConversionGroup>;
    return null;
  };
  const keyOf = (r: Row): string | number => {
    const g = int(r.g);
    return g === 3 ? (r.conversion_type ?? "") : g === 5 ? (r.step_id ?? "") : int(r.b);
  };
  for (const r of rows) {
    const group: ConversionGroup = {
      count: int(r.n),
      valueCents: int(r.value),
      valued: int(r.valued),
      visitors: 0,
      orders: int(r.orders),
      orderCents: int(r.order_value),
    };
    const target = groupOf(r);
    if (target === "total") result.total = group;
    else target?.set(keyOf(r), group);
  }
  for (const r of visitors) {
    const target = groupOf(r);
    const group = target === "total" ? result.total : target?.get(keyOf(r));
    if (group) group.visitors = int(r.visitors);
  }
  return result;
}

/** Distinct converters in total, by type, by step and by bucket, as rows of conversionBreakdown. */
async function distinctConverters(
  db: Database,
  scope: ReportScope,
  buckets: Date[],
): Promise<
  { g: number; conversion_type: string | null; step_id: string | null; b: number | null; visitors: string }[]
> {
  const byBucket = linkedUnitsByBucket(scope, buckets, UNIT.converter);
  const days = wholeDays(scope);
  type Row = {
    g: number;
    conversion_type: string | null;
    step_id: string | null;
    b: number | null;
    visitors: string;
  };
  // By type and by step: from the day links over whole days, else from the conversions.
  const scan = () =>
    queryRows<Row>(
      db,
      sql`with c as (select conversion_type, step_id, visitor_id, at from ${conversionRows(scope, "conversion")} c)
      select 6 as g, null::text as conversion_type, null::uuid as step_id, b, count(*)::text as visitors
      from (select distinct ${bucketOf("at", buckets)} as b, visitor_id from c) x group by b
      ${
        days
          ? sql``
          : sql`union all
            select 3, conversion_type, null, null, count(*)::text
            from (select distinct conversion_type, visitor_id from c) x group by conversion_type
            union all
            select 5, null, step_id, null, count(*)::text from (select distinct step_id, visitor_id from c) x group by step_id`
      }`,
    );
  const linked = days ? convertersByTypeAndStep(db, scope, days) : Promise.resolve([] as Row[]);
  const total = queryRows<{ visitors: string }>(
    db,
    sql`select (${convertersCount(scope)})::text as visitors`,
  );
  const perBucket = byBucket
    ? queryRows<{ b: number; visitors: string }>(
        db,
        sql`select b, visitors::text as visitors from (${byBucket}) x`,
      )
    : Promise.resolve([]);
  const [rows, [sum], bucketRows, linkedRows] = await Promise.all([
    byBucket && days ? Promise.resolve([] as Row[]) : scan(),
    total,
    perBucket,
    linked,
  ]);
  return [
    ...rows,
    ...linkedRows,
    { g: 7, conversion_type: null, step_id: null, b: null, visitors: sum?.visitors ?? "0" },
    ...bucketRows.map((r) => ({
      g: 6,
      conversion_type: null,
      step_id: null,
      b: int(r.b),
      visitors: r.visitors,
    })),
  ];
}

const TYPE_OF_CONVERTER = new Map(Object.entries(CONVERTER_OF_TYPE).map(([type, kind]) => [kind, type]));

/**
 * Distinct converters per conversion type and per step of their conversions, as rows of
 * conversionBreakdown: over the whole days from the day links (kinds per type, and stepConverter),
 * and at the ends of the period from the conversions there, less the visitors the links already
 * count for that type or step.
 */
async function convertersByTypeAndStep(db: Database, scope: ReportScope, days: WholeDays) {
  const kinds = [...TYPE_OF_CONVERTER.keys(), UNIT.stepConverter];
  const kindOf = sql.raw(
    `(case conversion_type ${[...TYPE_OF_CONVERTER].map(([kind, type]) => `when '${type}' then ${kind}`).join(" ")} end)::int2`,
  );
  const ends = days.ends.map((end) => conversionRows(end, "conversion"));
  const rows = await queryRows<{ kind: number; step_id: string; visitors: string }>(
    db,
    sql`select kind, step_id, sum(n)::text as visitors from (
        select kind, step_id, sum(units) as n from agg_day_links
        where ${owned(scope)} and kind = any(${sql.param(kinds.map(String))}::text[]::int2[])
          and bucket >= ${ts(days.from)} and bucket < ${ts(days.to)} and prev_bucket < ${ts(days.from)}
        group by kind, step_id
        ${
          ends.length === 0
            ? sql``
            : sql`union all
              select kind, step_id, count(*) from (
                select distinct ${kindOf} as kind, ${NO_STEP}::uuid as step_id, visitor_id from ${unionAll(ends)} c
                where conversion_type is not null
                union
                select distinct ${UNIT.stepConverter}::int2, step_id, visitor_id from ${unionAll(ends)} c
                where step_id is not null
              ) e
              where e.kind is not null and not exists (select 1 from agg_active_days a
                where ${owned(scope, "a")} and a.unit = e.visitor_id::text and a.kind = e.kind and a.step_id = e.step_id
                  and a.bucket >= ${ts(days.from)} and a.bucket < ${ts(days.to)})
              group by kind, step_id`
        }
      ) x
      group by kind, step_id`,
  );
  return rows.map((r) =>
    int(r.kind) === UNIT.stepConverter
      ? { g: 5, conversion_type: null, step_id: r.step_id, b: null, visitors: r.visitors }
      : {
          g: 3,
          conversion_type: TYPE_OF_CONVERTER.get(int(r.kind) as UnitKind) ?? null,
          step_id: null,
          b: null,
          visitors: r.visitors,
        },
  );
}

export interface ConvertingVisitor {
  visitorId: string;
  sessionId: string;
  conversions: number;
  valueCents: number;
  first: Date;
  last: Date;
}

/**
 * The period's converting (visitor, session) pairs, latest last conversion first. A session whose
 * conversions all fall inside the period is read whole from agg_converting_sessions (the page
 * through its index on the last time); the few crossing a bound of the period, from their
 * conversions inside it.
 */
export async function convertingVisitors(
  db: Database,
  scope: ReportScope,
  page: { offset: number; limit: number },
): Promise<{ rows: ConvertingVisitor[]; total: number }> {
  const p = periodBounds(scope);
  const rows = await queryRows<{
    visitor_id: string;
    session_id: string;
    n: string;
    value: string | null;
    first: Date | string;
    last: Date | string;
    total: string;
  }>(
    db,
    sql`with crossing as (
        select c.visitor_id, c.session_id, count(*) as n, coalesce(sum(c.value_cents), 0) as value,
          min(c.at) as first, max(c.at) as last
        from agg_converting_sessions t
        join agg_conversions c on ${owned(scope, "c")} and c.session_id = t.session_id
          and c.visitor_id = t.visitor_id and c.kind = 'conversion' and c.at >= ${ts(p.start)} and c.at < ${ts(p.end)}
        where tstzrange(t.first_at, t.last_at, '[]') && tstzrange(${ts(p.start)}, ${ts(p.end)}, '[)')
          and ${owned(scope, "t")} and (t.first_at < ${ts(p.start)} or t.last_at >= ${ts(p.end)})
        group by 1, 2
      ),
      inside as not materialized (
        select visitor_id, session_id, conversions as n, value_cents as value, first_at as first, last_at as last
        from agg_converting_sessions
        where ${owned(scope)} and last_at < ${ts(p.end)} and last_at >= ${ts(p.start)} and first_at >= ${ts(p.start)}
      )
      -- Not materialized: the count and the page read the index on the last time (backwards for the page).
      select visitor_id, session_id, n::text as n, value::text as value, first, last,
        ((select count(*) from inside) + (select count(*) from crossing))::text as total
      from (
        (select * from inside order by last desc, visitor_id, session_id limit ${page.offset + page.limit})
        union all
        select * from crossing
      ) x
      order by last desc, visitor_id, session_id
      offset ${page.offset} limit ${page.limit}`,
  );
  let total = int(rows[0]?.total);
  if (rows.length === 0 && page.offset > 0) {
    const [count] = await queryRows<{ total: string }>(
      db,
      sql`select count(*)::text as total from (select distinct visitor_id, session_id from ${conversionRows(
        scope,
        "conversion",
      )} c) d`,
    );
    total = int(count?.total);
  }
  return {
    total,
    rows: rows.map((r) => ({
      visitorId: r.visitor_id,
      sessionId: r.session_id,
      conversions: int(r.n),
      valueCents: int(r.value),
      first: new Date(r.first),
      last: new Date(r.last),
    })),
  };
}

export interface RefundTotals {
  refunds: number;
  refundCents: number;
}

export async function refundTotals(db: Database, scope: ReportScope): Promise<RefundTotals> {
  const [row] = await queryRows<{ refunds: string | null; refunded: string | null }>(
    db,
    sql`select sum(n)::text as refunds, sum(value)::text as refunded from ${conversionCountRows(scope, "refund")} r`,
  );
  return { refunds: int(row?.refunds), refundCents: int(row?.refunded) };
}

/** Revenue (conversions with a value above 0) by the traffic source of their sessions. */
export async function revenueBySource(
  db: Database,
  scope: ReportScope,
): Promise<{ source: string; revenueCents: number }[]> {
  const rows = await queryRows<{ source: string; revenue: string }>(
    db,
    sql`select source, sum(order_cents)::text as revenue
      from ${conversionCountRows(scope, "conversion")} c
      group by 1
      having sum(orders) > 0`,
  );
  return rows.map((r) => ({ source: r.source, revenueCents: int(r.revenue) }));
}

export interface ProductFigures {
  productId: string;
  productName: string;
  revenueCents: number;
  unitsSold: number;
}

export async function topProducts(
  db: Database,
  scope: ReportScope,
  limit: number,
): Promise<ProductFigures[]> {
  // Whole UTC days from agg_products_daily, the rest from the orders themselves; the name is the
  // latest order's (by time, then event id) that gave one.
  const parts = dailyOrExact(scope, "agg_conversions", "agg_products_daily").map((seg) =>
    seg.table === "agg_conversions"
      ? sql`select id, q * price as revenue, q as units, name, at as name_at, event_id as name_event_id
          from (${productItems(sql`(select * from agg_conversions
            where ${owned(scope)} and kind = 'conversion'
              and at >= ${ts(seg.from)} and at < ${ts(seg.to)})`)}) i`
      : sql`select product_id as id, revenue, units, name, name_at, name_event_id from agg_products_daily
          where ${owned(scope)} and bucket >= ${ts(seg.from)} and bucket < ${ts(seg.to)}`,
  );
  if (parts.length === 0) return [];
  const rows = await queryRows<{ id: string; name: string | null; revenue: string; units: string }>(
    db,
    sql`select id,
        (array_agg(name order by name_at desc, name_event_id desc) filter (where name is not null))[1] as name,
        sum(revenue)::text as revenue, sum(units)::text as units
      from ${unionAll(parts)} x
      group by id
      order by sum(revenue) desc, id
      limit ${limit}`,
  );
  return rows.map((r) => ({
    productId: r.id,
    productName: r.name ?? r.id,
    revenueCents: Number(r.revenue),
    unitsSold: Number(r.units),
  }));
}
