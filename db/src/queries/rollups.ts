import { sql } from "drizzle-orm";
import { type Database, queryRows } from "../client";
import { type analyticsEvents, NO_STEP } from "../schema";
import { IS_CONVERSION, linkActiveDays } from "./day-links";
import { SharedRows } from "./shared-rows";
import { lockKeys } from "./unit-locks";
import { chunks, sortedValues, unnestInsert } from "./unnest";

/**
 * The rollups reports read (schema/aggregates.ts), kept from each batch of new, non-bot events
 * inside the batch's transaction. The rules are the SQL function funnel_rebuild_rollups()
 * (latest version: migration 0011) applied incrementally: a test checks that both give the same rows.
 *
 * Most rollups are upserts that do not depend on the order events arrive in: the database sums
 * them from the write's staged rows (STAGED), in the same SQL as the rebuild. Step visits and the
 * step a conversion belongs to do: an entry arriving late can split a visit or take over a
 * conversion. They are derived again, whole, for every session a batch touches, from that session's
 * narrow step events, under a lock on the session (see deriveSessions).
 */

export type RollupEvent = typeof analyticsEvents.$inferInsert & {
  createdAt: Date;
  accountId: string;
  eventId: string;
};

/**
 * The write's new events, bots included, in a temporary table of the events table's shape (filled
 * by events.ts, emptied at every commit). The rollups that do not depend on what is already stored
 * are summed from it by the database: the events cross the wire once, as COPY text, instead of
 * again as arrays for each rollup.
 */
export const STAGED = "ingest_staged_events";

const staged = sql.raw(`${STAGED} where not is_bot`);

const DAY_MS = 86_400_000;

const floorTo = (time: Date, ms: number) => new Date(Math.floor(time.getTime() / ms) * ms);

/** The bucket of `created_at` in SQL: whole intervals since the Unix epoch, as `floorTo`. */
const bucketOf = (interval: string) =>
  sql.raw(`date_bin('${interval}', created_at, timestamptz '1970-01-01 00:00:00+00')`);

/** Each time-bucketed rollup exists at these levels: the table and its bucket. */
const COUNT_LEVELS = [
  { table: "agg_event_counts", interval: "15 minutes" },
  { table: "agg_event_counts_hourly", interval: "1 hour" },
  { table: "agg_event_counts_daily", interval: "1 day" },
] as const;
const SESSION_LEVELS = [
  { table: "agg_session_buckets", interval: "15 minutes" },
  { table: "agg_session_buckets_daily", interval: "1 day" },
] as const;
const STEP_LEVELS = [
  { table: "agg_step_buckets", interval: "15 minutes" },
  { table: "agg_step_buckets_daily", interval: "1 day" },
] as const;

/**
 * The rollups of a write's new, non-bot events: the staged rows (STAGED) and the same events in
 * memory (`events`), for the parts derived here.
 *
 * Every statement adds its rows in key order, so that two writes meeting on a row lock their rows
 * in one order.
 */
export async function writeRollups(tx: Database, events: RollupEvent[]): Promise<void> {
  if (events.length === 0) return;
  const touched = new Map<string, { funnelId: string; sessionId: string }>();
  // Visitors whose conversion days in steps may change (agg_step_converted).
  const converting = new Map<string, { funnelId: string; visitorId: string }>();
  const convertingVisitor = (e: RollupEvent) =>
    converting.set(`${e.funnelId}|${e.visitorId}`.toLowerCase(), {
      funnelId: e.funnelId.toLowerCase(),
      visitorId: e.visitorId.toLowerCase(),
    });
  const touch = (e: RollupEvent) =>
    touched.set(`${e.funnelId}|${e.sessionId}`, { funnelId: e.funnelId, sessionId: e.sessionId });

  for (const e of events) {
    if (e.funnelStepId && (e.eventType === "step_entry" || e.eventType === "step_exit")) {
      touch(e);
      if (e.eventType === "step_entry") convertingVisitor(e);
    }
    if (e.eventType === "conversion") {
      convertingVisitor(e);
      touch(e);
    }
  }

  for (const level of SESSION_LEVELS) {
    await tx.execute(
      sql`insert into ${sql.raw(level.table)} (account_id, funnel_id, bucket, visitor_id, session_id)
        select distinct account_id, funnel_id, ${bucketOf(level.interval)}, visitor_id, session_id from ${staged}
        order by 2, 3, 4, 5
        on conflict do nothing`,
    );
  }
  for (const level of STEP_LEVELS) {
    const t = sql.raw(level.table);
    await tx.execute(
      sql`insert into ${t} as t (account_id, funnel_id, step_id, bucket, visitor_id, session_id, first_entry_at)
        select account_id, funnel_id, funnel_step_id, ${bucketOf(level.interval)}, visitor_id, session_id, min(created_at)
        from ${staged} and event_type = 'step_entry' and funnel_step_id is not null
        group by 1, 2, 3, 4, 5, 6
        order by 2, 3, 4, 5, 6
        on conflict (funnel_id, step_id, bucket, visitor_id, session_id) do update set
          first_entry_at = least(t.first_entry_at, excluded.first_entry_at)`,
    );
  }
  await upsertSpans(tx, "agg_step_visitors", ["first_entry_at", "last_entry_at"], "step_entry");
  await upsertSpans(tx, "agg_converters", ["first_conversion_at", "last_conversion_at"], "conversion");
  await upsertSpans(tx, "agg_funnel_visitors", ["first_seen_at", "last_seen_at"], null);
  // A session whose source, device or browser changed (an earlier event arrived late) moves its
  // step visits to another segment: derive it again too.
  for (const changed of await upsertSessions(tx)) {
    touched.set(`${changed.funnel_id}|${changed.session_id}`, {
      funnelId: changed.funnel_id,
      sessionId: changed.session_id,
    });
  }
  // The rows every write adds to (per day) are summed here and written at the end (shared-rows.ts).
  const shared = new SharedRows();
  countStepPaths(shared, await insertStepEvents(tx));
  await insertConversions(tx, shared);
  const { restepped, revisited } = await deriveSessions(tx, sortedValues(touched), shared);
  await linkActiveDays(
    tx,
    sql.raw(`(select * from ${STAGED} where not is_bot) as e`),
    converting,
    restepped,
    revisited,
    shared,
  );
  await shared.write(tx);
  // Last: every concurrent batch adds to the same few count rows (this quarter hour, this day);
  // written here, their row locks are held only until the commit, not through the whole write.
  await upsertCounts(tx);
}

/** Adds a write's counts to the quarter-hour, hourly and daily count rows, in key order. */
async function upsertCounts(tx: Database): Promise<void> {
  for (const level of COUNT_LEVELS) {
    await tx.execute(
      sql`insert into ${sql.raw(level.table)} as t
          (account_id, funnel_id, bucket, event_type, step_id, conversion_type, exit_outcome, events, value_cents)
        select account_id, funnel_id, ${bucketOf(level.interval)}, event_type,
          coalesce(funnel_step_id, ${NO_STEP}::uuid), coalesce(conversion_type, ''), coalesce(exit_outcome, ''),
          count(*), coalesce(sum(value_cents), 0)
        from ${staged}
        group by 1, 2, 3, 4, 5, 6, 7
        order by 2, 3, 4, 5, 6, 7
        on conflict (funnel_id, bucket, event_type, step_id, conversion_type, exit_outcome) do update set
          events = t.events + excluded.events, value_cents = t.value_cents + excluded.value_cents`,
    );
  }
}

/**
 * First and last event time per visitor in `table` (per step entered, for agg_step_visitors), of
 * the events of `eventType` (of any type when null): earliest first, latest last.
 */
async function upsertSpans(
  tx: Database,
  table: "agg_funnel_visitors" | "agg_step_visitors" | "agg_converters",
  [first, last]: [string, string],
  eventType: string | null,
): Promise<void> {
  const byStep = table === "agg_step_visitors";
  const [f, l] = [sql.raw(first), sql.raw(last)];
  const step = sql.raw(byStep ? "step_id, " : "");
  await tx.execute(
    sql`insert into ${sql.raw(table)} as t (account_id, funnel_id, ${step}visitor_id, ${f}, ${l})
      select account_id, funnel_id, ${sql.raw(byStep ? "funnel_step_id, " : "")}visitor_id, min(created_at), max(created_at)
      from ${staged}${eventType === null ? sql`` : sql` and event_type = ${eventType}`}${
        byStep ? sql` and funnel_step_id is not null` : sql``
      }
      group by ${sql.raw(byStep ? "1, 2, 3, 4" : "1, 2, 3")}
      order by ${sql.raw(byStep ? "2, 3, 4" : "2, 3")}
      on conflict (funnel_id, ${step}visitor_id)
      do update set ${f} = least(t.${f}, excluded.${f}), ${l} = greatest(t.${l}, excluded.${l})`,
  );
}

/**
 * Each session's first event's device and browser, and its earliest UTM source and referrer host
 * (ties: the smaller event id). An attribute stored is replaced only by one from an earlier event.
 * Returns the sessions that existed and changed.
 */
async function upsertSessions(tx: Database): Promise<{ funnel_id: string; session_id: string }[]> {
  const before = (at: string, id: string, thanAt: string, thanId: string) =>
    sql.raw(`(excluded.${at}, excluded.${id}) < (s.${thanAt}, s.${thanId})`);
  const takes = (at: string, id: string) =>
    sql.raw(
      `excluded.${at} is not null and (s.${at} is null or (excluded.${at}, excluded.${id}) < (s.${at}, s.${id}))`,
    );
  const earlier = before("first_at", "first_event_id", "first_at", "first_event_id");
  const utm = takes("utm_at", "utm_event_id");
  const referrer = takes("referrer_at", "referrer_event_id");
  // The same rules as funnel_rebuild_rollups(), host pattern included.
  const rows = await queryRows<{ funnel_id: string; session_id: string; updated: boolean }>(
    tx,
    sql`insert into agg_sessions as s (account_id, funnel_id, session_id, visitor_id, first_at, first_event_id,
        device_type, browser, utm_at, utm_event_id, utm_source, referrer_at, referrer_event_id, referrer_host)
      select f.account_id, f.funnel_id, f.session_id, f.visitor_id, f.created_at, f.event_id,
        coalesce(f.device_type, 'desktop'), coalesce(f.browser, 'Other'),
        u.created_at, u.event_id, u.utm_source, r.created_at, r.event_id, r.host
      from (
        select distinct on (funnel_id, session_id, visitor_id) *
        from ${staged}
        order by funnel_id, session_id, visitor_id, created_at, event_id
      ) f
      left join (
        select distinct on (funnel_id, session_id, visitor_id) funnel_id, session_id, visitor_id, created_at, event_id, utm_source
        from ${staged} and utm_source <> ''
        order by funnel_id, session_id, visitor_id, created_at, event_id
      ) u using (funnel_id, session_id, visitor_id)
      left join (
        select distinct on (funnel_id, session_id, visitor_id) funnel_id, session_id, visitor_id, created_at, event_id, host
        from (
          select *, left(regexp_replace(lower(substring(referrer from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)')), '^www\\.', ''), 255) as host
          from ${staged} and referrer is not null
        ) h
        where host <> ''
        order by funnel_id, session_id, visitor_id, created_at, event_id
      ) r using (funnel_id, session_id, visitor_id)
      order by f.funnel_id, f.session_id, f.visitor_id
      on conflict (funnel_id, session_id, visitor_id) do update set
        first_at = case when ${earlier} then excluded.first_at else s.first_at end,
        first_event_id = case when ${earlier} then excluded.first_event_id else s.first_event_id end,
        device_type = case when ${earlier} then excluded.device_type else s.device_type end,
        browser = case when ${earlier} then excluded.browser else s.browser end,
        utm_at = case when ${utm} then excluded.utm_at else s.utm_at end,
        utm_event_id = case when ${utm} then excluded.utm_event_id else s.utm_event_id end,
        utm_source = case when ${utm} then excluded.utm_source else s.utm_source end,
        referrer_at = case when ${referrer} then excluded.referrer_at else s.referrer_at end,
        referrer_event_id = case when ${referrer} then excluded.referrer_event_id else s.referrer_event_id end,
        referrer_host = case when ${referrer} then excluded.referrer_host else s.referrer_host end
      where ${earlier} or ${utm} or ${referrer}
      returning funnel_id, session_id, xmax <> 0 as updated`,
  );
  return rows.filter((row) => row.updated === true || String(row.updated) === "true");
}

interface StepPathRow {
  account_id: string;
  funnel_id: string;
  step_id: string;
  at: Date | string;
  kind: "entry" | "exit";
  other_step_id: string | null;
  exit_outcome: string | null;
  reason: string | null;
}

/** Stores the step events; returns those stored (an event already there is not counted again). */
async function insertStepEvents(tx: Database): Promise<StepPathRow[]> {
  return queryRows<StepPathRow>(
    tx,
    sql`insert into agg_step_events (account_id, funnel_id, session_id, visitor_id, step_id, event_id, at, kind,
        previous_step_id, next_step_id, exit_outcome, reason)
      select account_id, funnel_id, session_id, visitor_id, funnel_step_id, event_id, created_at,
        case event_type when 'step_entry' then 'entry' else 'exit' end, previous_step_id, next_step_id, exit_outcome,
        case when event_type = 'step_exit' and jsonb_typeof(metadata -> 'reason') = 'string'
          and metadata ->> 'reason' <> '' then left(metadata ->> 'reason', 100) end
      from ${staged} and event_type in ('step_entry', 'step_exit') and funnel_step_id is not null
      order by account_id, event_id
      on conflict do nothing
      returning account_id, funnel_id, step_id, at, kind,
        case kind when 'entry' then previous_step_id else next_step_id end as other_step_id, exit_outcome, reason`,
  );
}

/** agg_step_paths_daily: the stored step events counted per step, day, kind, path, outcome, reason. */
function countStepPaths(shared: SharedRows, rows: StepPathRow[]): void {
  for (const r of rows) {
    shared.addStepPath({
      accountId: r.account_id,
      funnelId: r.funnel_id,
      stepId: r.step_id,
      day: floorTo(new Date(r.at), DAY_MS).toISOString(),
      kind: r.kind,
      other: r.other_step_id ?? NO_STEP,
      outcome: r.exit_outcome ?? "",
      reason: r.reason ?? "",
    });
  }
}

/**
 * Conversions and refunds, and the conversions' sessions' figures (agg_converting_sessions); the
 * refunds and the orders' products stored go to the daily rows at the end (SharedRows).
 */
async function insertConversions(tx: Database, shared: SharedRows): Promise<void> {
  const stored = await queryRows<{ funnel_id: string; event_id: string }>(
    tx,
    sql`with stored as (
        insert into agg_conversions (account_id, funnel_id, event_id, session_id, visitor_id, at, kind,
          conversion_type, value_cents, order_id, products)
        select account_id, funnel_id, event_id, session_id, visitor_id, created_at, event_type, conversion_type,
          value_cents, order_id,
          case when event_type = 'conversion' and value_cents > 0 and jsonb_typeof(metadata -> 'products') = 'array'
            then metadata -> 'products' end
        from ${staged} and event_type in ('conversion', 'refund')
        order by funnel_id, event_id
        on conflict do nothing returning *
      ),
      sessions as (
        insert into agg_converting_sessions as a
        select min(account_id::text)::uuid, funnel_id, session_id, visitor_id, min(at), max(at), count(*),
          coalesce(sum(value_cents), 0)
        from stored where kind = 'conversion'
        group by funnel_id, session_id, visitor_id
        order by funnel_id, session_id, visitor_id
        on conflict (funnel_id, session_id, visitor_id) do update set
          first_at = least(a.first_at, excluded.first_at), last_at = greatest(a.last_at, excluded.last_at),
          conversions = a.conversions + excluded.conversions, value_cents = a.value_cents + excluded.value_cents
      )
      select funnel_id, event_id from stored where kind = 'refund' or products is not null`,
  );
  for (const row of stored) shared.addOrderSource(row.funnel_id, row.event_id);
}

// ---------------------------------------------------------------------------------------------
// Per-session derivations.

/** First key of the per-session advisory locks: keeps them apart from other advisory locks. */
const LOCK_NAMESPACE = 0x46554e4c;

interface StoredStepEvent {
  funnel_id: string;
  session_id: string;
  visitor_id: string;
  account_id: string;
  step_id: string;
  event_id: string;
  at: Date | string;
  kind: "entry" | "exit";
  exit_outcome: string | null;
}

export interface StepVisit {
  accountId: string;
  funnelId: string;
  sessionId: string;
  visitorId: string;
  stepId: string;
  entryEventId: string;
  entryAt: Date;
  exitAt: Date | null;
  exitOutcome: string | null;
  durationMs: number | null;
}

/** Visits of one session's step events (docs/metrics.md, "Step visits"). */
export function stepVisitsOf(events: StoredStepEvent[]): StepVisit[] {
  const byStep = new Map<string, { e: StoredStepEvent; at: Date }[]>();
  for (const e of events) {
    const key = `${e.funnel_id}|${e.session_id}|${e.step_id}`;
    const list = byStep.get(key) ?? [];
    list.push({ e, at: new Date(e.at) });
    byStep.set(key, list);
  }
  const visits: StepVisit[] = [];
  for (const list of byStep.values()) {
    list.sort(
      (a, b) =>
        a.at.getTime() - b.at.getTime() ||
        (a.e.kind < b.e.kind ? -1 : a.e.kind > b.e.kind ? 1 : 0) ||
        (a.e.event_id < b.e.event_id ? -1 : a.e.event_id > b.e.event_id ? 1 : 0),
    );
    list.forEach(({ e, at }, i) => {
      if (e.kind !== "entry") return;
      const next = list[i + 1];
      const exited = next?.e.kind === "exit";
      visits.push({
        accountId: e.account_id,
        funnelId: e.funnel_id,
        sessionId: e.session_id,
        visitorId: e.visitor_id,
        stepId: e.step_id,
        entryEventId: e.event_id,
        entryAt: at,
        exitAt: exited ? next.at : null,
        exitOutcome: exited ? next.e.exit_outcome : null,
        durationMs: exited ? next.at.getTime() - at.getTime() : null,
      });
    });
  }
  return visits;
}

/**
 * Step visits and conversion steps of the touched sessions, derived again from everything stored
 * for them. The session's lock is taken before reading, so two batches touching one session take
 * turns, and the later one reads what the earlier one committed. Returns the visitors whose
 * conversions got or changed their step (their step-converter days are derived again under their
 * locks, day-links.ts).
 */
async function deriveSessions(
  tx: Database,
  keys: { funnelId: string; sessionId: string }[],
  shared: SharedRows,
): Promise<{
  restepped: Map<string, { funnelId: string; visitorId: string }>;
  revisited: Map<string, { funnelId: string; visitorId: string }>;
}> {
  const restepped = new Map<string, { funnelId: string; visitorId: string }>();
  const revisited = new Map<string, { funnelId: string; visitorId: string }>();
  if (keys.length === 0) return { restepped, revisited };
  await lockKeys(
    tx,
    LOCK_NAMESPACE,
    keys.map((k) => `${k.funnelId}|${k.sessionId}`),
  );
  for (const chunk of chunks(keys)) {
    const funnelIds = sql.param(chunk.map((k) => k.funnelId));
    const sessionIds = sql.param(chunk.map((k) => k.sessionId));
    const stored = await queryRows<StoredStepEvent>(
      tx,
      sql`select s.funnel_id, s.session_id, s.visitor_id, s.account_id, s.step_id, s.event_id, s.at, s.kind, s.exit_outcome
        from agg_step_events s
        join unnest(${funnelIds}::text[]::uuid[], ${sessionIds}::text[]) as k(funnel_id, session_id)
          on s.funnel_id = k.funnel_id and s.session_id = k.session_id`,
    );
    const removed = await queryRows<RemovedVisit>(
      tx,
      sql`delete from agg_step_visits v
        using unnest(${funnelIds}::text[]::uuid[], ${sessionIds}::text[]) as k(funnel_id, session_id)
        where v.funnel_id = k.funnel_id and v.session_id = k.session_id
        returning v.account_id, v.funnel_id, v.visitor_id, v.step_id, v.entry_at, v.duration_ms, v.exit_outcome,
          v.source, v.device_type, v.browser`,
    );
    const segments = new Map(
      (
        await queryRows<{
          funnel_id: string;
          session_id: string;
          visitor_id: string;
          source: string;
          device_type: string;
          browser: string;
        }>(
          tx,
          sql`select s.funnel_id, s.session_id, s.visitor_id,
              coalesce(s.utm_source, s.referrer_host, 'direct') as source, s.device_type, s.browser
            from agg_sessions s
            join unnest(${funnelIds}::text[]::uuid[], ${sessionIds}::text[]) as k(funnel_id, session_id)
              on s.funnel_id = k.funnel_id and s.session_id = k.session_id`,
        )
      ).map((r) => [`${r.funnel_id}|${r.session_id}|${r.visitor_id}`, r]),
    );
    const visits: SegmentedVisit[] = [];
    for (const visit of stepVisitsOf(stored)) {
      // Every step event's session has its row (both are written from the same non-bot events).
      const segment = segments.get(`${visit.funnelId}|${visit.sessionId}|${visit.visitorId}`);
      if (!segment) continue;
      visits.push({
        ...visit,
        source: segment.source,
        deviceType: segment.device_type,
        browser: segment.browser,
      });
    }
    // Visitors whose (step, day, segment) of visits changed: their segment days are derived again.
    // Most visits are derived again unchanged; only a new visit or a session's new segment counts.
    for (const v of visitorsWithNewSegments(removed, visits))
      revisited.set(`${v.funnelId}|${v.visitorId}`, v);
    countStepTimeChanges(shared, removed, visits);
    countSegmentChanges(shared, removed, visits);
    for (const rows of chunks(visits)) {
      await tx.execute(
        unnestInsert("agg_step_visits", [
          ["account_id", "uuid", rows.map((v) => v.accountId)],
          ["funnel_id", "uuid", rows.map((v) => v.funnelId)],
          ["session_id", "text", rows.map((v) => v.sessionId)],
          ["visitor_id", "uuid", rows.map((v) => v.visitorId)],
          ["step_id", "uuid", rows.map((v) => v.stepId)],
          ["entry_event_id", "uuid", rows.map((v) => v.entryEventId)],
          ["entry_at", "timestamptz", rows.map((v) => v.entryAt.toISOString())],
          ["exit_at", "timestamptz", rows.map((v) => v.exitAt?.toISOString() ?? null)],
          ["exit_outcome", "text", rows.map((v) => v.exitOutcome)],
          ["duration_ms", "int8", rows.map((v) => (v.durationMs === null ? null : String(v.durationMs)))],
          ["source", "text", rows.map((v) => v.source)],
          ["device_type", "text", rows.map((v) => v.deviceType)],
          ["browser", "text", rows.map((v) => v.browser)],
        ]),
      );
    }
    for (const v of await attributeConversions(tx, chunk, stored, segments, shared))
      restepped.set(`${v.funnelId}|${v.visitorId}`, v);
  }
  return { restepped, revisited };
}

/** Visitors whose multiset of (step, entry day, source, device, browser) differs before and after. */
function visitorsWithNewSegments(
  removed: RemovedVisit[],
  added: SegmentedVisit[],
): { funnelId: string; visitorId: string }[] {
  const tally = new Map<string, { funnelId: string; visitorId: string; counts: Map<string, number> }>();
  const count = (funnelId: string, visitorId: string, tuple: string, sign: number) => {
    const key = `${funnelId}|${visitorId}`;
    const t = tally.get(key) ?? { funnelId, visitorId, counts: new Map<string, number>() };
    t.counts.set(tuple, (t.counts.get(tuple) ?? 0) + sign);
    tally.set(key, t);
  };
  const day = (at: Date | string) => floorTo(new Date(at), DAY_MS).toISOString();
  for (const r of removed) {
    count(
      r.funnel_id,
      r.visitor_id,
      [r.step_id, day(r.entry_at), r.source, r.device_type, r.browser].join("|"),
      -1,
    );
  }
  for (const v of added) {
    const tuple = [v.stepId.toLowerCase(), day(v.entryAt), v.source, v.deviceType, v.browser].join("|");
    count(v.funnelId.toLowerCase(), v.visitorId.toLowerCase(), tuple, 1);
  }
  return [...tally.values()]
    .filter((t) => [...t.counts.values()].some((n) => n !== 0))
    .map(({ funnelId, visitorId }) => ({ funnelId, visitorId }));
}

interface RemovedVisit {
  account_id: string;
  funnel_id: string;
  visitor_id: string;
  step_id: string;
  entry_at: Date | string;
  duration_ms: string | number | null;
  exit_outcome: string | null;
  source: string;
  device_type: string;
  browser: string;
}

type SegmentedVisit = StepVisit & { source: string; deviceType: string; browser: string };

const DROPPED_OUTCOMES = new Set(["bounce", "close"]);

/**
 * Keeps agg_step_segments_daily equal to the visits per segment, like countStepTimeChanges: what
 * the derivation removed is taken off, what it wrote is added.
 */
function countSegmentChanges(shared: SharedRows, removed: RemovedVisit[], added: SegmentedVisit[]): void {
  const change = (
    v: { accountId: string; funnelId: string; stepId: string; at: Date; outcome: string | null },
    values: [string, string][],
    sign: number,
  ) => {
    const day = floorTo(v.at, DAY_MS).toISOString();
    const dropped = v.outcome !== null && DROPPED_OUTCOMES.has(v.outcome) ? sign : 0;
    for (const [dimension, value] of values) {
      shared.addSegment(
        { accountId: v.accountId, funnelId: v.funnelId, stepId: v.stepId, day, dimension, value },
        sign,
        dropped,
      );
    }
  };
  for (const r of removed) {
    change(
      {
        accountId: r.account_id,
        funnelId: r.funnel_id,
        stepId: r.step_id,
        at: new Date(r.entry_at),
        outcome: r.exit_outcome,
      },
      [
        ["source", r.source],
        ["device", r.device_type],
        ["browser", r.browser],
      ],
      -1,
    );
  }
  for (const v of added) {
    change(
      {
        accountId: v.accountId,
        funnelId: v.funnelId,
        stepId: v.stepId,
        at: v.entryAt,
        outcome: v.exitOutcome,
      },
      [
        ["source", v.source],
        ["device", v.deviceType],
        ["browser", v.browser],
      ],
      1,
    );
  }
}

/**
 * Keeps agg_step_times_daily equal to the exited visits: what the derivation removed is taken off,
 * what it wrote is added.
 */
function countStepTimeChanges(
  shared: SharedRows,
  removed: {
    account_id: string;
    funnel_id: string;
    step_id: string;
    entry_at: Date | string;
    duration_ms: string | number | null;
  }[],
  added: StepVisit[],
): void {
  const change = (
    accountId: string,
    funnelId: string,
    stepId: string,
    at: Date,
    visits: number,
    ms: number,
  ) =>
    shared.addStepTime({ accountId, funnelId, stepId, day: floorTo(at, DAY_MS).toISOString() }, visits, ms);
  for (const r of removed) {
    if (r.duration_ms === null) continue;
    change(r.account_id, r.funnel_id, r.step_id, new Date(r.entry_at), -1, -Number(r.duration_ms));
  }
  for (const v of added) {
    if (v.durationMs === null) continue;
    change(v.accountId, v.funnelId, v.stepId, v.entryAt, 1, v.durationMs);
  }
}

/**
 * Sets each conversion's step (its session's latest step entry at or before it) and source (its
 * session's), and keeps agg_conversions_daily equal to them: a conversion is counted there once
 * both are set (source not null), and moved when either changes.
 */
async function attributeConversions(
  tx: Database,
  keys: { funnelId: string; sessionId: string }[],
  stepEvents: StoredStepEvent[],
  sources: Map<string, { source: string }>,
  shared: SharedRows,
): Promise<{ funnelId: string; visitorId: string }[]> {
  const funnelIds = sql.param(keys.map((k) => k.funnelId));
  const sessionIds = sql.param(keys.map((k) => k.sessionId));
  const stored = await queryRows<{
    account_id: string;
    funnel_id: string;
    session_id: string;
    visitor_id: string;
    event_id: string;
    at: Date | string;
    conversion_type: string | null;
    value_cents: number | null;
    step_id: string | null;
    source: string | null;
  }>(
    tx,
    sql`select c.account_id, c.funnel_id, c.session_id, c.visitor_id, c.event_id, c.at, c.conversion_type,
        c.value_cents, c.step_id, c.source
      from agg_conversions c
      join unnest(${funnelIds}::text[]::uuid[], ${sessionIds}::text[]) as k(funnel_id, session_id)
        on c.funnel_id = k.funnel_id and c.session_id = k.session_id
      where ${IS_CONVERSION}`,
  );
  const entries = new Map<string, { at: number; id: string; step: string }[]>();
  for (const e of stepEvents) {
    if (e.kind !== "entry") continue;
    const key = `${e.funnel_id}|${e.session_id}`;
    const list = entries.get(key) ?? [];
    list.push({ at: new Date(e.at).getTime(), id: e.event_id, step: e.step_id });
    entries.set(key, list);
  }
  const changed: { funnelId: string; eventId: string; stepId: string | null; source: string }[] = [];
  const restepped: { funnelId: string; visitorId: string }[] = [];
  const count = (c: (typeof stored)[number], stepId: string | null, source: string, sign: number) =>
    shared.addConversion(
      {
        accountId: c.account_id,
        funnelId: c.funnel_id,
        bucket: floorTo(new Date(c.at), DAY_MS).toISOString(),
        conversionType: c.conversion_type ?? "",
        stepId: stepId ?? NO_STEP,
        source,
      },
      c.value_cents === null ? null : Number(c.value_cents),
      sign,
    );
  for (const c of stored) {
    const at = new Date(c.at).getTime();
    let best: { at: number; id: string; step: string } | undefined;
    for (const entry of entries.get(`${c.funnel_id}|${c.session_id}`) ?? []) {
      if (entry.at > at) continue;
      if (!best || entry.at > best.at || (entry.at === best.at && entry.id > best.id)) best = entry;
    }
    const stepId = best?.step ?? null;
    // As agg_sessions' row gives it, or direct when the session has none.
    const source = sources.get(`${c.funnel_id}|${c.session_id}|${c.visitor_id}`)?.source ?? "direct";
    if (stepId === c.step_id && source === c.source) continue;
    changed.push({ funnelId: c.funnel_id, eventId: c.event_id, stepId, source });
    if (stepId !== c.step_id) restepped.push({ funnelId: c.funnel_id, visitorId: c.visitor_id });
    if (c.source !== null) count(c, c.step_id, c.source, -1);
    count(c, stepId, source, 1);
  }
  for (const rows of chunks(changed)) {
    await tx.execute(
      sql`update agg_conversions c set step_id = u.step_id, source = u.source
        from unnest(
          ${sql.param(rows.map((r) => r.funnelId))}::text[]::uuid[],
          ${sql.param(rows.map((r) => r.eventId))}::text[]::uuid[],
          ${sql.param(rows.map((r) => r.stepId))}::text[]::uuid[],
          ${sql.param(rows.map((r) => r.source))}::text[]
        ) as u(funnel_id, event_id, step_id, source)
        where c.funnel_id = u.funnel_id and c.event_id = u.event_id`,
    );
  }
  return restepped;
}
