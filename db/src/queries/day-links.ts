import { type SQL, sql } from "drizzle-orm";
import { type Database, queryRows } from "../client";
import { NO_STEP } from "../schema";
import type { SharedRows } from "./shared-rows";
import { lockKeys } from "./unit-locks";
import { sortedValues } from "./unnest";

/**
 * Days seen and their links (schema/aggregates.ts: agg_active_days, agg_day_links), kept from each
 * batch. A unit's links are the pairs (day, previous day) of its days in order; a day arriving
 * between two known ones replaces one link with two. So links are derived again for every unit
 * that gains a day, under a lock on the unit, from the days committed before and the new ones.
 */

/**
 * What a unit of agg_active_days counts: a visitor with any event, a session, a visitor entering a
 * step (step_id), a converting visitor, one converting with a conversion of each type, and one
 * converting with a conversion that belongs to a step (step_id; derived with the conversions'
 * steps, deriveStepConverters).
 */
export const UNIT = {
  visitor: 0,
  session: 1,
  stepVisitor: 2,
  converter: 3,
  formSubmitConverter: 4,
  purchaseConverter: 5,
  signupConverter: 6,
  customConverter: 7,
  stepConverter: 8,
  segmentStepVisitor: 9,
} as const;

/**
 * The step_id of a segmentStepVisitor unit: a uuid from the step, the dimension (source, device,
 * browser) and its value, so that a step's visitors per segment value are link rows like the others.
 */
export function segmentKey(stepId: string, dimension: string, value: string): SQL {
  return sql.raw(`md5(${stepId}::text || '|' || ${dimension} || '|' || ${value})::uuid`);
}
export type UnitKind = (typeof UNIT)[keyof typeof UNIT];

/** The unit kind of the visitors converting with a conversion of this type. */
export const CONVERTER_OF_TYPE: Record<string, UnitKind> = {
  form_submit: UNIT.formSubmitConverter,
  purchase: UNIT.purchaseConverter,
  signup: UNIT.signupConverter,
  custom: UNIT.customConverter,
};

/**
 * `c.kind = 'conversion'` for the ingest's reads of a few visitors' or sessions' rows of
 * agg_conversions, written so that no index can use it: the index on (funnel, kind, time) must not
 * compete with the one on the visitor or session. Without statistics (a table the autovacuum has
 * not analysed yet, as on a fresh database) the planner rated both alike, took the first, and read
 * every conversion of the funnel once per visitor: up to 6 s a write instead of 10 ms.
 */
export const IS_CONVERSION = sql.raw("(c.kind = 'conversion') is true");

/** First key of the units' advisory locks; the per-session locks of rollups.ts use another. */
const LOCK_NAMESPACE = 0x46554e44;

/** A visitor whose derived rows are made again, with the account its rows belong to. */
export interface VisitorKey {
  accountId: string;
  funnelId: string;
  visitorId: string;
}

interface ActiveDay {
  accountId: string;
  funnelId: string;
  kind: UnitKind;
  stepId: string;
  unit: string;
  day: Date;
}

/**
 * The (unit, kind, step) an event makes active on its day, as SQL over `events` (rows of the
 * events table's shape): a visitor with any event, a session, a visitor entering a step, a
 * converting visitor, and one converting with a conversion of each type.
 */
function unitsOf(events: SQL): SQL {
  const ofType = Object.entries(CONVERTER_OF_TYPE)
    .map(([type, kind]) => `when '${type}' then ${kind}`)
    .join(" ");
  const types = Object.keys(CONVERTER_OF_TYPE)
    .map((type) => `'${type}'`)
    .join(", ");
  return sql`select account_id, funnel_id, u.unit, u.kind, u.step_id,
      date_bin('1 day', created_at, timestamptz '1970-01-01 00:00:00+00') as bucket
    from ${events}
    cross join lateral (
      select visitor_id::text, ${sql.raw(String(UNIT.visitor))}, ${NO_STEP}::uuid
      union all select session_id, ${sql.raw(String(UNIT.session))}, ${NO_STEP}::uuid
      union all select visitor_id::text, ${sql.raw(String(UNIT.stepVisitor))}, funnel_step_id
        where event_type = 'step_entry' and funnel_step_id is not null
      union all select visitor_id::text, ${sql.raw(String(UNIT.converter))}, ${NO_STEP}::uuid
        where event_type = 'conversion'
      union all select visitor_id::text, case conversion_type ${sql.raw(ofType)} end, ${NO_STEP}::uuid
        where event_type = 'conversion' and conversion_type in (${sql.raw(types)})
    ) as u(unit, kind, step_id)`;
}

/** A link row's change: days as ISO text, the previous one '-infinity' when there is none. */
interface LinkChange {
  account_id: string;
  funnel_id: string;
  kind: number | string;
  step_id: string;
  bucket: string;
  prev_bucket: string;
  units: string | number;
}

/**
 * The changes of the CTE `links` (account_id, funnel_id, kind, step_id, bucket, prev_bucket,
 * delta) summed per link row, those that cancel out left out.
 */
const summedLinks = sql`select account_id, funnel_id, kind, step_id, ${isoDay("bucket")} as bucket,
    case when prev_bucket = '-infinity' then '-infinity' else ${isoDay("prev_bucket")} end as prev_bucket,
    sum(delta) as units
  from links
  group by account_id, funnel_id, kind, step_id, bucket, prev_bucket
  having sum(delta) <> 0`;

/** Adds link changes to the rows written at the end of the transaction (SharedRows). */
function addLinkChanges(shared: SharedRows, changes: LinkChange[]): void {
  for (const c of changes) {
    shared.addDayLink(
      {
        accountId: c.account_id,
        funnelId: c.funnel_id,
        kind: Number(c.kind),
        stepId: c.step_id,
        bucket: c.bucket,
        prev: c.prev_bucket,
      },
      Number(c.units),
    );
  }
}

/**
 * Stores the batch's days and, for the units that gained one, moves their links from the old
 * sequence of days to the new one. Called last in the batch's transaction: the locks it takes are
 * held only until the commit that follows, and no lock of another kind is taken after them.
 */
export async function linkActiveDays(
  tx: Database,
  events: SQL,
  converting: Map<string, VisitorKey>,
  restepped: Map<string, VisitorKey> = new Map(),
  revisited: Map<string, VisitorKey>,
  shared: SharedRows,
): Promise<void> {
  // The events' days, in key order (the order every write locks them in); those new come back.
  const fresh = (
    await queryRows<{
      account_id: string;
      funnel_id: string;
      unit: string;
      kind: number | string;
      step_id: string;
      bucket: Date | string;
    }>(
      tx,
      sql`insert into agg_active_days (account_id, funnel_id, unit, kind, step_id, bucket)
        select distinct account_id, funnel_id, unit, kind, step_id, bucket from (${unitsOf(events)}) as d
        order by 2, 3, 4, 5, 6
        on conflict do nothing
        returning account_id, funnel_id, unit, kind, step_id, bucket`,
    )
  ).map(
    (r): ActiveDay => ({
      accountId: r.account_id,
      funnelId: r.funnel_id,
      unit: r.unit,
      kind: Number(r.kind) as UnitKind,
      stepId: r.step_id,
      day: new Date(r.bucket),
    }),
  );
  const visitors = sortedValues(converting);
  const stepConverters = sortedValues(restepped);
  const segmentVisitors = sortedValues(revisited);
  if (
    fresh.length === 0 &&
    visitors.length === 0 &&
    stepConverters.length === 0 &&
    segmentVisitors.length === 0
  ) {
    return;
  }
  await lockKeys(tx, LOCK_NAMESPACE, [
    ...fresh.map((d) => `${d.funnelId}|${d.unit}`),
    ...[...visitors, ...stepConverters, ...segmentVisitors].map((v) => `${v.funnelId}|${v.visitorId}`),
  ]);
  await deriveConverted(tx, visitors, shared);
  await deriveVisitorDays(tx, stepConverters, UNIT.stepConverter, shared);
  await deriveVisitorDays(tx, segmentVisitors, UNIT.segmentStepVisitor, shared);
  if (fresh.length === 0) return;
  // The links' changes, summed per link row; the rows themselves are written at the end of the
  // transaction with every other write's (SharedRows).
  const changes = await queryRows<LinkChange>(
    tx,
    sql`with n as (
        select * from unnest(${sql.param(fresh.map((d) => d.accountId))}::text[]::uuid[],
          ${sql.param(fresh.map((d) => d.funnelId))}::text[]::uuid[],
          ${sql.param(fresh.map((d) => d.unit))}::text[],
          ${sql.param(fresh.map((d) => String(d.kind)))}::text[]::int2[],
          ${sql.param(fresh.map((d) => d.stepId))}::text[]::uuid[],
          ${sql.param(fresh.map((d) => d.day.toISOString()))}::text[]::timestamptz[])
          as n(account_id, funnel_id, unit, kind, step_id, bucket)
      ),
      units as (select distinct account_id, funnel_id, unit, kind, step_id from n),
      days as (
        -- "fresh" through a hashed lookup, not a join: the planner cannot know how many rows the
        -- arrays hold, and a join it thought tiny ran as a nested loop (over a second for 2,500 days).
        select u.account_id, d.funnel_id, d.unit, d.kind, d.step_id, d.bucket,
          (d.funnel_id, d.unit, d.kind, d.step_id, d.bucket) in
            (select funnel_id, unit, kind, step_id, bucket from n) as fresh
        from units u
        join agg_active_days d on d.account_id = u.account_id and d.funnel_id = u.funnel_id and d.unit = u.unit
          and d.kind = u.kind and d.step_id = u.step_id
      ),
      links as (
        select account_id, funnel_id, kind, step_id, bucket,
          coalesce(lag(bucket) over w, '-infinity') as prev_bucket, 1 as delta
        from days
        window w as (partition by funnel_id, unit, kind, step_id order by bucket)
        union all
        select account_id, funnel_id, kind, step_id, bucket,
          coalesce(lag(bucket) over w, '-infinity') as prev_bucket, -1 as delta
        from days where not fresh
        window w as (partition by funnel_id, unit, kind, step_id order by bucket)
      )
      ${summedLinks}`,
  );
  addLinkChanges(shared, changes);
}

/** The visitors as the relation `v` (account_id, funnel_id, visitor_id). */
function visitorKeys(visitors: VisitorKey[]): SQL {
  return sql`unnest(${sql.param(visitors.map((x) => x.accountId))}::text[]::uuid[],
    ${sql.param(visitors.map((x) => x.funnelId))}::text[]::uuid[],
    ${sql.param(visitors.map((x) => x.visitorId))}::text[]::uuid[]) as v(account_id, funnel_id, visitor_id)`;
}

/** A timestamptz column as the ISO text the writer keys days by (UTC, milliseconds, Z). */
function isoDay(column: string): SQL {
  return sql.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);
}

/**
 * The conversion days of visitors with a new conversion or step entry (agg_step_converted), derived
 * again from their conversions and step visits, and their counts (agg_step_converted_days) moved
 * from the old rows to the new ones. Called under the visitors' locks.
 */
async function deriveConverted(tx: Database, visitors: VisitorKey[], shared: SharedRows): Promise<void> {
  if (visitors.length === 0) return;
  const v = visitorKeys(visitors);
  const epoch = sql`timestamptz '1970-01-01 00:00:00+00'`;
  type Counted = {
    account_id: string;
    funnel_id: string;
    step_id: string;
    /** As text, which 'infinity' also is. */
    bucket: string;
    next_bucket: string;
    entry_bucket: string;
    visitors: string | number;
  };
  // The visitors' rows go, then come again as derived now; their counts (agg_step_converted_days)
  // move from the old rows to the new ones at the end of the write (SharedRows).
  const count = (rows: Counted[], sign: number) => {
    for (const r of rows) {
      shared.addConvertedDay(
        {
          accountId: r.account_id,
          funnelId: r.funnel_id,
          stepId: r.step_id,
          bucket: r.bucket,
          nextBucket: r.next_bucket,
          entryBucket: r.entry_bucket,
        },
        sign * Number(r.visitors),
      );
    }
  };
  const perDay = sql.raw(`select account_id, funnel_id, step_id, bucket::text as bucket,
      next_bucket::text as next_bucket, entry_bucket::text as entry_bucket, count(*) as visitors`);
  count(
    await queryRows<Counted>(
      tx,
      sql`with old as (
          delete from agg_step_converted t using ${v}
          where t.account_id = v.account_id and t.funnel_id = v.funnel_id and t.visitor_id = v.visitor_id
          returning t.*
        )
        ${perDay} from old group by 1, 2, 3, 4, 5, 6`,
    ),
    -1,
  );
  count(
    await queryRows<Counted>(
      tx,
      sql`with d as (
          select c.account_id, c.funnel_id, c.visitor_id, date_bin('1 day', c.at, ${epoch}) as day, max(c.at) as last_at
          from ${v} join agg_conversions c on c.account_id = v.account_id and c.funnel_id = v.funnel_id
            and c.visitor_id = v.visitor_id
          where ${IS_CONVERSION}
          group by 1, 2, 3, 4
        ),
        c as (
          select d.*, coalesce(lead(day) over (partition by funnel_id, visitor_id order by day), 'infinity') as next_day
          from d
        ),
        derived as (
          select c.account_id, c.funnel_id, c.visitor_id, s.step_id, c.day as bucket, c.next_day as next_bucket,
            date_bin('1 day', max(s.entry_at), ${epoch}) as entry_bucket
          from c join agg_step_visits s on s.account_id = c.account_id and s.funnel_id = c.funnel_id
            and s.visitor_id = c.visitor_id and s.entry_at <= c.last_at
          group by c.account_id, c.funnel_id, c.visitor_id, s.step_id, c.day, c.next_day
        ),
        stored as (
          insert into agg_step_converted (account_id, funnel_id, visitor_id, step_id, bucket, next_bucket, entry_bucket)
          select * from derived order by funnel_id, visitor_id, step_id, bucket
        )
        ${perDay} from derived group by 1, 2, 3, 4, 5, 6`,
    ),
    1,
  );
}

/**
 * The days on which each visitor converted with a conversion of each step (kind stepConverter),
 * derived again from agg_conversions for visitors whose conversions got or changed their step, and
 * their links moved from the old days to the new ones. A conversion's step can change (an earlier
 * step entry of its session arrives late), so a day can go as well as come: unlike the other
 * kinds, these are derived whole, under the visitors' locks, from what is committed and this
 * transaction's own rows.
 */
async function deriveVisitorDays(
  tx: Database,
  visitors: VisitorKey[],
  kind: typeof UNIT.stepConverter | typeof UNIT.segmentStepVisitor,
  shared: SharedRows,
): Promise<void> {
  if (visitors.length === 0) return;
  const v = visitorKeys(visitors);
  const want =
    kind === UNIT.stepConverter
      ? sql`select min(c.account_id::text)::uuid as account_id, c.funnel_id, c.visitor_id::text as unit, c.step_id,
          date_bin('1 day', c.at, timestamptz '1970-01-01 00:00:00+00') as bucket
        from ${v} join agg_conversions c on c.account_id = v.account_id and c.funnel_id = v.funnel_id
          and c.visitor_id = v.visitor_id
        where ${IS_CONVERSION} and c.step_id is not null
        group by c.funnel_id, c.visitor_id, c.step_id, 5`
      : sql`select min(s.account_id::text)::uuid as account_id, s.funnel_id, s.visitor_id::text as unit,
          ${segmentKey("s.step_id", "d.dimension", "d.value")} as step_id,
          date_bin('1 day', s.entry_at, timestamptz '1970-01-01 00:00:00+00') as bucket
        from ${v} join agg_step_visits s on s.account_id = v.account_id and s.funnel_id = v.funnel_id
          and s.visitor_id = v.visitor_id
        cross join lateral (values ('source', s.source), ('device', s.device_type::text), ('browser', s.browser::text))
          as d(dimension, value)
        group by s.funnel_id, s.visitor_id, 4, 5`;
  // The days each unit should have (want) against those it has (have): the missing ones are
  // added, the extra ones deleted, and the links move from the old sequence of days to the new
  // one. Only the links' changes come back.
  const changes = await queryRows<LinkChange>(
    tx,
    sql`with want as (${want}),
      have as (
        select a.account_id, a.funnel_id, a.unit, a.step_id, a.bucket
        from ${v} join agg_active_days a on a.account_id = v.account_id and a.funnel_id = v.funnel_id
          and a.unit = v.visitor_id::text and a.kind = ${kind}
      ),
      diff as (
        select funnel_id, unit, step_id, bucket, coalesce(w.account_id, h.account_id) as account_id,
          h.account_id is null as came
        from want w full join have h using (funnel_id, unit, step_id, bucket)
        where w.account_id is null or h.account_id is null
      ),
      gone as (
        delete from agg_active_days a using diff d
        where not d.came and a.account_id = d.account_id and a.funnel_id = d.funnel_id and a.unit = d.unit
          and a.kind = ${kind}
          and a.step_id = d.step_id and a.bucket = d.bucket
      ),
      come as (
        insert into agg_active_days (account_id, funnel_id, unit, kind, step_id, bucket)
        select account_id, funnel_id, unit, ${kind}::int2, step_id, bucket from diff where came
        order by funnel_id, unit, step_id, bucket
      ),
      -- A unit whose days did not change adds and takes off the same links: they sum to nothing.
      links as (
        select account_id, funnel_id, ${kind}::int2 as kind, step_id, bucket,
          coalesce(lag(bucket) over o, '-infinity') as prev_bucket, 1 as delta
        from want
        window o as (partition by funnel_id, unit, step_id order by bucket)
        union all
        select account_id, funnel_id, ${kind}::int2 as kind, step_id, bucket,
          coalesce(lag(bucket) over o, '-infinity') as prev_bucket, -1 as delta
        from have
        window o as (partition by funnel_id, unit, step_id order by bucket)
      )
      ${summedLinks}`,
  );
  addLinkChanges(shared, changes);
}
