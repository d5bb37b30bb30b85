import { type SQL, sql } from "drizzle-orm";
import { type Database, queryRows } from "../client";
import { NO_STEP } from "../schema";

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
  return sql`select * from analytics_events
    where account_id = ${scope.accountId}::uuid and funnel_id = ${scope.funnelId}::uuid
      and not is_bot ${extra} and (${within})`;
}

/** `columns` of each segment's table, union all. */
function fromSegments(scope: ReportScope, segments: Segment[], columns: string, where: SQL = sql``): SQL[] {
  return segments.map(
    (seg) => sql`select ${sql.raw(columns)} from ${sql.raw(seg.table)}
      where funnel_id = ${scope.funnelId}::uuid and bucket >= ${ts(seg.from)} and bucket < ${ts(seg.to)} ${where}`,
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
    where funnel_id = ${scope.funnelId}::uuid and kind = ${kind}
      and at >= ${ts(p.start)} and at < ${ts(p.end)} ${extra})`;
}

function inPeriod(column: string, scope: ReportScope): SQL {
  const p = periodBounds(scope);
  return sql`${sql.raw(column)} >= ${ts(p.start)} and ${sql.raw(column)} < ${ts(p.end)}`;
}

/** 1-based index of the bucket holding `column`, given the buckets' start instants. */
function bucketOf(column: SQL | string, buckets: Date[]): SQL {
  const col = typeof column === "string" ? sql.raw(column) : column;
  return sql`width_bucket(${col}, ${sql.param(buckets.map((b) => b.toISOString()))}::text[]::timestamptz[])`;
}

const int = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

const SOURCE = sql.raw("coalesce(s.utm_source, s.referrer_host, 'direct')");

// ---------------------------------------------------------------------------------------------

export interface VisitorTotals {
  unique: number;
  sessions: number;
  new: number;
}

export async function visitorTotals(db: Database, scope: ReportScope): Promise<VisitorTotals> {
  const [row] = await queryRows<{ unique: number; sessions: number; fresh: number }>(
    db,
    sql`with v as materialized (select visitor_id, session_id from ${sessionRows(scope)} x)
      select
        (select count(*) from (select distinct visitor_id from v) d) as unique,
        (select count(*) from (select distinct session_id from v) d) as sessions,
        (select count(*) from agg_funnel_visitors
          where funnel_id = ${scope.funnelId}::uuid and ${inPeriod("first_seen_at", scope)}) as fresh`,
  );
  return { unique: int(row?.unique), sessions: int(row?.sessions), new: int(row?.fresh) };
}

/** Distinct visitors per bucket. */
export async function visitorsByBucket(
  db: Database,
  scope: ReportScope,
  buckets: Date[],
): Promise<Map<number, number>> {
  const rows = await queryRows<{ b: number; visitors: number }>(
    db,
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
  const rows = await queryRows<{ step_id: string; visitors: number; converted: number }>(
    db,
    sql`with firsts as (
        select step_id, visitor_id, min(first_entry_at) as first_entry
        from ${stepRows(scope, stepId)} x
        group by 1, 2
      ),
      converters as (
        select visitor_id, max(at) as last_conversion from ${conversionRows(scope, "conversion")} c group by 1
      )
      select f.step_id, count(*) as visitors,
        count(*) filter (where c.last_conversion >= f.first_entry) as converted
      from firsts f left join converters c using (visitor_id)
      group by f.step_id`,
  );
  return rows.map((r) => ({ stepId: r.step_id, visitors: int(r.visitors), converted: int(r.converted) }));
}

/** Distinct visitors entering the step, per bucket. */
export async function stepVisitorsByBucket(
  db: Database,
  scope: ReportScope,
  stepId: string,
  buckets: Date[],
): Promise<Map<number, number>> {
  const rows = await queryRows<{ b: number; visitors: number }>(
    db,
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
          where funnel_id = ${scope.funnelId}::uuid and entry_at >= ${ts(seg.from)} and entry_at < ${ts(seg.to)}
            and exit_at is not null ${step}`
      : sql`select step_id, bucket as at, visits, total_ms from agg_step_times_daily
          where funnel_id = ${scope.funnelId}::uuid and bucket >= ${ts(seg.from)} and bucket < ${ts(seg.to)} ${step}`,
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
      where funnel_id = ${scope.funnelId}::uuid and step_id = ${stepId}::uuid
        and ${inPeriod("entry_at", scope)} and exit_at is not null`,
  );
  return row?.median === null || row?.median === undefined ? null : Number(row.median);
}

export type Dimension = "source" | "device" | "browser";

const DIMENSION: Record<Dimension, SQL> = {
  source: SOURCE,
  device: sql.raw("s.device_type"),
  browser: sql.raw("s.browser"),
};

/** Step visitors per source, device or browser of the sessions they entered the step in. */
export async function stepVisitorsBy(
  db: Database,
  scope: ReportScope,
  stepId: string,
  dimension: Dimension,
): Promise<{ value: string; visitors: number }[]> {
  const rows = await queryRows<{ value: string; visitors: number }>(
    db,
    sql`select ${DIMENSION[dimension]} as value, count(distinct x.visitor_id) as visitors
      from ${stepRows(scope, stepId)} x
      join agg_sessions s
        on s.funnel_id = ${scope.funnelId}::uuid and s.session_id = x.session_id and s.visitor_id = x.visitor_id
      group by 1`,
  );
  return rows.map((r) => ({ value: r.value, visitors: int(r.visitors) }));
}

/** The step's entries by previous step, or its exits by next step. */
export async function stepPaths(
  db: Database,
  scope: ReportScope,
  stepId: string,
  kind: "entry" | "exit",
): Promise<{ stepId: string | null; count: number }[]> {
  const column = sql.raw(kind === "entry" ? "previous_step_id" : "next_step_id");
  const rows = await queryRows<{ step: string | null; count: number }>(
    db,
    sql`select ${column} as step, count(*) as count from agg_step_events
      where funnel_id = ${scope.funnelId}::uuid and step_id = ${stepId}::uuid and kind = ${kind}
        and ${inPeriod("at", scope)}
      group by 1`,
  );
  return rows.map((r) => ({ stepId: r.step, count: int(r.count) }));
}

/** Exits that left the funnel or went back, by reason (metadata.reason, else the outcome). */
export async function exitReasons(
  db: Database,
  scope: ReportScope,
): Promise<{ stepId: string; reason: string; fromMetadata: boolean; count: number }[]> {
  const rows = await queryRows<{ step_id: string; reason: string; from_metadata: boolean; count: number }>(
    db,
    sql`select step_id, coalesce(reason, exit_outcome) as reason, reason is not null as from_metadata,
        count(*) as count
      from agg_step_events
      where funnel_id = ${scope.funnelId}::uuid and kind = 'exit'
        and exit_outcome in ('bounce', 'close', 'backward') and ${inPeriod("at", scope)}
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
  const rows = await queryRows<{
    step_id: string;
    dimension: Dimension;
    value: string;
    visits: number;
    drops: number;
  }>(
    db,
    sql`select v.step_id, d.dimension, d.value, count(*) as visits,
        count(*) filter (where v.exit_outcome in ('bounce', 'close')) as drops
      from agg_step_visits v
      join agg_sessions s on s.funnel_id = v.funnel_id and s.session_id = v.session_id and s.visitor_id = v.visitor_id
      cross join lateral (values ('source', ${SOURCE}), ('device', s.device_type::text), ('browser', s.browser::text))
        as d(dimension, value)
      where v.funnel_id = ${scope.funnelId}::uuid and ${inPeriod("v.entry_at", scope)}
      group by 1, 2, 3`,
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
  const [row] = await queryRows<{ n: number; value: string | null; valued: number; converters: number }>(
    db,
    sql`select count(*) as n, sum(value_cents)::text as value, count(value_cents) as valued,
        count(distinct visitor_id) as converters
      from ${conversionRows(scope, "conversion")} c`,
  );
  return {
    conversions: int(row?.n),
    valueCents: int(row?.value),
    valued: int(row?.valued),
    converters: int(row?.converters),
  };
}

export async function conversionsByType(
  db: Database,
  scope: ReportScope,
): Promise<{ type: string; count: number; visitors: number; valueCents: number }[]> {
  const rows = await queryRows<{ type: string; n: number; visitors: number; value: string | null }>(
    db,
    sql`select conversion_type as type, count(*) as n, count(distinct visitor_id) as visitors,
        sum(value_cents)::text as value
      from ${conversionRows(scope, "conversion")} c group by 1`,
  );
  return rows.map((r) => ({
    type: r.type,
    count: int(r.n),
    visitors: int(r.visitors),
    valueCents: int(r.value),
  }));
}

/** Conversions (or orders: value > 0) by the step they belong to. */
export async function conversionsByStep(
  db: Database,
  scope: ReportScope,
  ordersOnly: boolean,
): Promise<{ stepId: string; count: number; visitors: number; valueCents: number }[]> {
  const rows = await queryRows<{ step_id: string; n: number; visitors: number; value: string | null }>(
    db,
    sql`select step_id, count(*) as n, count(distinct visitor_id) as visitors, sum(value_cents)::text as value
      from ${conversionRows(scope, "conversion", ordersOnly ? sql`and value_cents > 0` : sql``)} c
      where step_id is not null group by 1`,
  );
  return rows.map((r) => ({
    stepId: r.step_id,
    count: int(r.n),
    visitors: int(r.visitors),
    valueCents: int(r.value),
  }));
}

/** Conversions (or orders) per bucket. */
export async function conversionsByBucket(
  db: Database,
  scope: ReportScope,
  buckets: Date[],
  ordersOnly: boolean,
): Promise<Map<number, { count: number; visitors: number; valueCents: number }>> {
  const rows = await queryRows<{ b: number; n: number; visitors: number; value: string | null }>(
    db,
    sql`select ${bucketOf("at", buckets)} as b, count(*) as n, count(distinct visitor_id) as visitors,
        sum(value_cents)::text as value
      from ${conversionRows(scope, "conversion", ordersOnly ? sql`and value_cents > 0` : sql``)} c group by 1`,
  );
  return new Map(
    rows.map((r) => [int(r.b), { count: int(r.n), visitors: int(r.visitors), valueCents: int(r.value) }]),
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

export async function convertingVisitors(
  db: Database,
  scope: ReportScope,
  page: { offset: number; limit: number },
): Promise<{ rows: ConvertingVisitor[]; total: number }> {
  const rows = await queryRows<{
    visitor_id: string;
    session_id: string;
    n: number;
    value: string | null;
    first: Date | string;
    last: Date | string;
    total: number;
  }>(
    db,
    sql`select visitor_id, session_id, count(*) as n, sum(value_cents)::text as value,
        min(at) as first, max(at) as last, count(*) over () as total
      from ${conversionRows(scope, "conversion")} c
      group by 1, 2
      order by max(at) desc, visitor_id, session_id
      offset ${page.offset} limit ${page.limit}`,
  );
  let total = int(rows[0]?.total);
  if (rows.length === 0 && page.offset > 0) {
    const [count] = await queryRows<{ total: number }>(
      db,
      sql`select count(*) as total from (select distinct visitor_id, session_id from ${conversionRows(
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

export interface RevenueTotals {
  orders: number;
  revenueCents: number;
  refunds: number;
  refundCents: number;
}

export async function revenueTotals(db: Database, scope: ReportScope): Promise<RevenueTotals> {
  const [row] = await queryRows<{
    orders: number;
    revenue: string | null;
    refunds: number;
    refunded: string | null;
  }>(
    db,
    sql`select
        (select count(*) from ${conversionRows(scope, "conversion", sql`and value_cents > 0`)} o) as orders,
        (select sum(value_cents)::text from ${conversionRows(scope, "conversion", sql`and value_cents > 0`)} o) as revenue,
        (select count(*) from ${conversionRows(scope, "refund")} r) as refunds,
        (select sum(coalesce(value_cents, 0))::text from ${conversionRows(scope, "refund")} r) as refunded`,
  );
  return {
    orders: int(row?.orders),
    revenueCents: int(row?.revenue),
    refunds: int(row?.refunds),
    refundCents: int(row?.refunded),
  };
}

export async function revenueBySource(
  db: Database,
  scope: ReportScope,
): Promise<{ source: string; revenueCents: number }[]> {
  const rows = await queryRows<{ source: string; revenue: string }>(
    db,
    sql`select ${SOURCE} as source, sum(o.value_cents)::text as revenue
      from ${conversionRows(scope, "conversion", sql`and value_cents > 0`)} o
      left join agg_sessions s on s.funnel_id = o.funnel_id and s.session_id = o.session_id and s.visitor_id = o.visitor_id
      group by 1`,
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
  const rows = await queryRows<{ id: string; name: string | null; revenue: string; units: string }>(
    db,
    sql`select p ->> 'product_id' as id,
        (array_agg(p ->> 'product_name' order by o.at desc, o.event_id desc)
          filter (where jsonb_typeof(p -> 'product_name') = 'string'))[1] as name,
        sum((p ->> 'quantity')::numeric * (p ->> 'price_cents')::numeric)::text as revenue,
        sum((p ->> 'quantity')::numeric)::text as units
      from ${conversionRows(scope, "conversion", sql`and value_cents > 0 and products is not null`)} o
      cross join lateral jsonb_array_elements(o.products) as p
      where jsonb_typeof(p) = 'object' and jsonb_typeof(p -> 'product_id') = 'string'
        and jsonb_typeof(p -> 'quantity') = 'number' and jsonb_typeof(p -> 'price_cents') = 'number'
      group by 1
      order by sum((p ->> 'quantity')::numeric * (p ->> 'price_cents')::numeric) desc, 1
      limit ${limit}`,
  );
  return rows.map((r) => ({
    productId: r.id,
    productName: r.name ?? r.id,
    revenueCents: Number(r.revenue),
    unitsSold: Number(r.units),
  }));
}
