import { type SQL, sql } from "drizzle-orm";
import { type Database, queryRows } from "../client";
import { EVENT_ROLLUPS } from "../rollups/registry";
import { keepUp, keepUpAllFacts, logFactRows, stageFactChanges } from "../rollups/run";
import { IS_CONVERSION, linkActiveDays, type VisitorKey } from "./day-links";
import { SharedRows } from "./shared-rows";
import { lockKeys } from "./unit-locks";
import { chunks, sortedValues } from "./unnest";

/**
 * The rollups reports read (schema/aggregates.ts), kept from each batch of new, counted events
 * inside the deriver's transaction. Those that are functions of the counted events alone are
 * defined once in the registry (db/src/rollups/registry.ts), which keeps them up here and rebuilds
 * them. For the others the rules are the SQL function funnel_rebuild_rollups() (latest version:
 * migration 0024) applied incrementally: tests check that both give the same rows.
 *
 * Most rollups are upserts that do not depend on the order events arrive in: the database sums
 * them from the write's staged rows (STAGED), in the same SQL as the rebuild. Step visits and the
 * step a conversion belongs to do: an entry arriving late can split a visit or take over a
 * conversion. They are derived again, whole, for every session a batch touches, from that session's
 * narrow step events, under a lock on the session (see deriveSessions).
 */

/** What the rollups need of each event in memory: the keys of its session and visitor (the rest is read from STAGED). */
export interface RollupEvent {
  accountId: string;
  funnelId: string;
  visitorId: string;
  sessionId: string;
  eventType: string;
  funnelStepId: string | null;
}

/**
 * The write's new events, bots included, in a temporary table of the events table's shape (filled
 * by events.ts, emptied at every commit). The rollups that do not depend on what is already stored
 * are summed from it by the database: the events cross the wire once, as COPY text, instead of
 * again as arrays for each rollup.
 */
export const STAGED = "ingest_staged_events";

/** Creates STAGED on this connection when it is not there yet; its rows go at every commit or rollback. */
export async function stageTable(tx: Database): Promise<void> {
  await tx.execute(
    sql.raw(`create temporary table if not exists ${STAGED} (like analytics_events) on commit delete rows`),
  );
}

/** The staged rows the rollups count: those of bot sessions are stored, never counted (bot-sessions.ts). */
const staged = sql.raw(`(select * from ${STAGED} where not is_bot) as e`);

const DAY_MS = 86_400_000;

/** A session a write touched, with the account its rows belong to. */
interface SessionKey {
  accountId: string;
  funnelId: string;
  sessionId: string;
}

const floorTo = (time: Date, ms: number) => new Date(Math.floor(time.getTime() / ms) * ms);

/**
 * What a batch's steps hand on to each other (the batch's new, counted events are in STAGED): the
 * sessions and visitors its events touch, and what the steps find to derive again.
 */
interface Batch {
  tx: Database;
  /** Sessions whose step visits and conversion steps are derived again; keyed by funnel first (the order rows are locked in). */
  touched: Map<string, SessionKey>;
  /** Visitors whose conversion days in steps may change (agg_step_converted). */
  converting: Map<string, VisitorKey>;
  /** Visitors whose conversions got or changed their step, and whose step visits changed segment. */
  restepped: Map<string, VisitorKey>;
  revisited: Map<string, VisitorKey>;
  /** The per-day rows every batch adds to, summed as the steps go and written at the end (shared-rows.ts). */
  shared: SharedRows;
}

interface BatchStep {
  name: string;
  run: (batch: Batch) => Promise<void>;
}

/**
 * The steps of a batch, run in this order by `writeRollups`. Every statement adds its rows in key
 * order, so that two batches meeting on a row lock their rows in one order; the rows every batch
 * adds to (this quarter hour's counts, this day's) come last, so their locks are held only until
 * the commit.
 */
const BATCH_STEPS: readonly BatchStep[] = [
  { name: "event rollups", run: (b) => keepUpEventRollups(b, false) },
  { name: "sessions", run: deriveSessionAttributes },
  { name: "step events", run: (b) => insertStepEvents(b.tx) },
  { name: "conversions", run: (b) => insertConversions(b.tx, b.shared) },
  { name: "orders", run: (b) => deriveOrders(b.tx) },
  { name: "step visits", run: deriveStepVisits },
  {
    name: "days seen",
    run: (b) => linkActiveDays(b.tx, staged, b.converting, b.restepped, b.revisited, b.shared),
  },
  { name: "shared rows", run: (b) => b.shared.write(b.tx) },
  { name: "fact rollups", run: (b) => keepUpAllFacts(b.tx) },
  { name: "hot counts", run: (b) => keepUpEventRollups(b, true) },
];

/** The rollups of a batch of new, counted events (in STAGED; their keys in `events`), step by step. */
export async function writeRollups(tx: Database, events: RollupEvent[]): Promise<void> {
  if (events.length === 0) return;
  await stageFactChanges(tx);
  const batch = newBatch(tx, events);
  for (const step of BATCH_STEPS) {
    try {
      await step.run(batch);
    } catch (error) {
      throw new Error(`deriving rollups, step "${step.name}": ${(error as Error).message}`, { cause: error });
    }
  }
}

/** The sessions and visitors the batch's step events and conversions touch. */
function newBatch(tx: Database, events: RollupEvent[]): Batch {
  const batch: Batch = {
    tx,
    touched: new Map(),
    converting: new Map(),
    restepped: new Map(),
    revisited: new Map(),
    shared: new SharedRows(),
  };
  for (const e of events) {
    const step = e.funnelStepId && (e.eventType === "step_entry" || e.eventType === "step_exit");
    if (step || e.eventType === "conversion") touch(batch, e);
    if ((step && e.eventType === "step_entry") || e.eventType === "conversion") {
      batch.converting.set(`${e.funnelId}|${e.visitorId}|${e.accountId}`.toLowerCase(), {
        accountId: e.accountId.toLowerCase(),
        funnelId: e.funnelId.toLowerCase(),
        visitorId: e.visitorId.toLowerCase(),
      });
    }
  }
  return batch;
}

function touch(batch: Batch, s: SessionKey): void {
  batch.touched.set(`${s.funnelId}|${s.sessionId}|${s.accountId}`, {
    accountId: s.accountId,
    funnelId: s.funnelId,
    sessionId: s.sessionId,
  });
}

/** The registry's rollups kept from counted events alone (db/src/rollups/registry.ts): the hot ones, or the others. */
async function keepUpEventRollups(batch: Batch, hot: boolean): Promise<void> {
  for (const rollup of EVENT_ROLLUPS)
    if ((rollup.hot ?? false) === hot) await keepUp(batch.tx, rollup, staged);
}

/**
 * The sessions' attributes; a session whose source, device or browser changed (an event arrived
 * late) moves its step visits to another segment: it is derived again too.
 */
async function deriveSessionAttributes(batch: Batch): Promise<void> {
  for (const changed of await upsertSessions(batch.tx)) {
    touch(batch, {
      accountId: changed.account_id,
      funnelId: changed.funnel_id,
      sessionId: changed.session_id,
    });
  }
}

async function deriveStepVisits(batch: Batch): Promise<void> {
  const { restepped, revisited } = await deriveSessions(batch.tx, sortedValues(batch.touched));
  for (const [key, v] of restepped) batch.restepped.set(key, v);
  for (const [key, v] of revisited) batch.revisited.set(key, v);
}

/**
 * Each session's first event, the device and browser of its first event that carried a user agent
 * (`unknown` until one does), and its earliest UTM source and referrer host (ties: the smaller
 * event id). An attribute stored is replaced only by one from an earlier event, so a user agent
 * arriving on a later batch still decides. Returns the sessions that existed and changed.
 */
async function upsertSessions(
  tx: Database,
): Promise<{ account_id: string; funnel_id: string; session_id: string }[]> {
  const before = (at: string, id: string, thanAt: string, thanId: string) =>
    sql.raw(`(excluded.${at}, excluded.${id}) < (s.${thanAt}, s.${thanId})`);
  const takes = (at: string, id: string) =>
    sql.raw(
      `excluded.${at} is not null and (s.${at} is null or (excluded.${at}, excluded.${id}) < (s.${at}, s.${id}))`,
    );
  const earlier = before("first_at", "first_event_id", "first_at", "first_event_id");
  const agent = takes("agent_at", "agent_event_id");
  const utm = takes("utm_at", "utm_event_id");
  const referrer = takes("referrer_at", "referrer_event_id");
  // The same rules as funnel_rebuild_rollups(), host pattern included.
  const rows = await queryRows<{
    account_id: string;
    funnel_id: string;
    session_id: string;
    updated: boolean;
  }>(
    tx,
    sql`insert into agg_sessions as s (account_id, funnel_id, session_id, visitor_id, first_at, first_event_id,
        device_type, browser, agent_at, agent_event_id, utm_at, utm_event_id, utm_source, referrer_at,
        referrer_event_id, referrer_host)
      select f.account_id, f.funnel_id, f.session_id, f.visitor_id, f.created_at, f.event_id,
        coalesce(a.device_type, 'unknown'), case when a.event_id is null then 'unknown' else coalesce(a.browser, 'Other') end,
        a.created_at, a.event_id, u.created_at, u.event_id, u.utm_source, r.created_at, r.event_id, r.host
      from (
        select distinct on (funnel_id, session_id, visitor_id) *
        from ${staged}
        order by funnel_id, session_id, visitor_id, created_at, event_id
      ) f
      left join (
        select distinct on (funnel_id, session_id, visitor_id) funnel_id, session_id, visitor_id, created_at, event_id,
          device_type, browser
        from ${staged} where device_type is not null
        order by funnel_id, session_id, visitor_id, created_at, event_id
      ) a using (funnel_id, session_id, visitor_id)
      left join (
        select distinct on (funnel_id, session_id, visitor_id) funnel_id, session_id, visitor_id, created_at, event_id, utm_source
        from ${staged} where utm_source <> ''
        order by funnel_id, session_id, visitor_id, created_at, event_id
      ) u using (funnel_id, session_id, visitor_id)
      left join (
        select distinct on (funnel_id, session_id, visitor_id) funnel_id, session_id, visitor_id, created_at, event_id, host
        from (
          select *, left(regexp_replace(lower(substring(referrer from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)')), '^www\\.', ''), 255) as host
          from ${staged} where referrer is not null
        ) h
        where host <> ''
        order by funnel_id, session_id, visitor_id, created_at, event_id
      ) r using (funnel_id, session_id, visitor_id)
      order by f.funnel_id, f.session_id, f.visitor_id
      on conflict (funnel_id, session_id, visitor_id) do update set
        first_at = case when ${earlier} then excluded.first_at else s.first_at end,
        first_event_id = case when ${earlier} then excluded.first_event_id else s.first_event_id end,
        device_type = case when ${agent} then excluded.device_type else s.device_type end,
        browser = case when ${agent} then excluded.browser else s.browser end,
        agent_at = case when ${agent} then excluded.agent_at else s.agent_at end,
        agent_event_id = case when ${agent} then excluded.agent_event_id else s.agent_event_id end,
        utm_at = case when ${utm} then excluded.utm_at else s.utm_at end,
        utm_event_id = case when ${utm} then excluded.utm_event_id else s.utm_event_id end,
        utm_source = case when ${utm} then excluded.utm_source else s.utm_source end,
        referrer_at = case when ${referrer} then excluded.referrer_at else s.referrer_at end,
        referrer_event_id = case when ${referrer} then excluded.referrer_event_id else s.referrer_event_id end,
        referrer_host = case when ${referrer} then excluded.referrer_host else s.referrer_host end
      where ${earlier} or ${agent} or ${utm} or ${referrer}
      returning account_id, funnel_id, session_id, xmax <> 0 as updated`,
  );
  return rows.filter((row) => row.updated === true || String(row.updated) === "true");
}

/** Stores the step events: the narrow rows the step visits are derived from, session by session. */
async function insertStepEvents(tx: Database): Promise<void> {
  await tx.execute(
    sql`insert into agg_step_events (account_id, funnel_id, session_id, visitor_id, step_id, event_id, at, kind,
        previous_step_id, next_step_id, exit_outcome, reason)
      select account_id, funnel_id, session_id, visitor_id, funnel_step_id, event_id, created_at,
        case event_type when 'step_entry' then 'entry' else 'exit' end, previous_step_id, next_step_id, exit_outcome,
        case when event_type = 'step_exit' and jsonb_typeof(metadata -> 'reason') = 'string'
          and metadata ->> 'reason' <> '' then left(metadata ->> 'reason', 100) end
      from ${staged} where event_type in ('step_entry', 'step_exit') and funnel_step_id is not null
      order by account_id, event_id
      on conflict do nothing`,
  );
}

/**
 * Conversions and refunds, and the conversions' sessions' figures (agg_converting_sessions); the
 * orders' products stored go to the daily rows at the end (SharedRows). A refund is stored held,
 * counting nothing, until deriveOrders finds its order.
 */
async function insertConversions(tx: Database, shared: SharedRows): Promise<void> {
  const stored = await queryRows<{ account_id: string; funnel_id: string; event_id: string }>(
    tx,
    sql`with stored as (
        insert into agg_conversions (account_id, funnel_id, event_id, session_id, visitor_id, at, kind,
          conversion_type, value_cents, order_id, products, asked_cents, held_reason)
        select account_id, funnel_id, event_id, session_id, visitor_id, created_at,
          case event_type when 'refund' then ${REFUND_HELD} else event_type end, conversion_type,
          case event_type when 'refund' then 0 else value_cents end, order_id,
          case when event_type = 'conversion' and value_cents > 0 and jsonb_typeof(metadata -> 'products') = 'array'
            then metadata -> 'products' end,
          case event_type when 'refund' then value_cents end,
          case event_type when 'refund' then 'no_order' end
        from ${staged} where event_type in ('conversion', 'refund')
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
      select account_id, funnel_id, event_id from stored where products is not null`,
  );
  for (const row of stored) shared.addOrderSource(row.account_id, row.funnel_id, row.event_id);
}

/** The kind of a refund kept aside: it counts nothing (held_reason says why). */
const REFUND_HELD = sql.raw("'refund_held'");

/** First key of the per-order advisory locks: apart from the session and unit locks. */
const ORDER_LOCK_NAMESPACE = 0x46554e52;

/**
 * The refunds of every order the write touched (a refund, or a conversion with a value and an
 * order_id, stored), counted again against their order: the rule of funnel_rebuild_refunds()
 * (migration 0021; docs/metrics.md, "Refunds"). An order is its funnel's earliest conversion with a
 * value above 0 and that order_id, of the same account; its refunds, oldest first, each count what
 * is left of its value, at most what they ask. agg_conversions_daily follows what changed.
 *
 * A purchase and its refund may be written by two lanes at once (a server-side refund carries
 * another visitor than the purchase). The order's lock is taken after this write stored its rows
 * and before the order is read: of two writes meeting on an order, the later reads what the
 * earlier committed, so the last one counts the refunds against everything stored. Orders are
 * locked before sessions and units in every write, so the locks are always taken in one order.
 */
async function deriveOrders(tx: Database): Promise<void> {
  const orders = await queryRows<{ account_id: string; funnel_id: string; order_id: string }>(
    tx,
    sql`select distinct account_id, funnel_id, order_id from ${staged}
      where order_id is not null and (event_type = 'refund' or (event_type = 'conversion' and value_cents > 0))
      order by 1, 2, 3`,
  );
  if (orders.length === 0) return;
  await lockKeys(
    tx,
    ORDER_LOCK_NAMESPACE,
    orders.map((o) => `${o.account_id}|${o.funnel_id}|${o.order_id}`),
  );
  for (const chunk of chunks(orders)) {
    // Each refund whose count changed is logged as a fact change (old and new version).
    await tx.execute(
      sql`with k as (
          select * from unnest(${sql.param(chunk.map((o) => o.account_id))}::text[]::uuid[],
            ${sql.param(chunk.map((o) => o.funnel_id))}::text[]::uuid[],
            ${sql.param(chunk.map((o) => o.order_id))}::text[]) as k(account_id, funnel_id, order_id)
        ),
        refunds as (
          select r.account_id, r.funnel_id, r.event_id, r.order_id, r.at, r.kind, r.value_cents, r.held_reason,
            r.conversion_type, r.step_id, r.source, coalesce(r.asked_cents, r.value_cents, 0) as asked
          from k join agg_conversions r on r.account_id = k.account_id and r.funnel_id = k.funnel_id
            and r.order_id = k.order_id
          where r.order_id is not null and r.kind in ('refund', ${REFUND_HELD})
        ),
        orders as (
          select distinct on (c.account_id, c.funnel_id, c.order_id) c.account_id, c.funnel_id, c.order_id,
            c.value_cents
          from k join agg_conversions c on c.account_id = k.account_id and c.funnel_id = k.funnel_id
            and c.order_id = k.order_id
          where c.order_id is not null and c.kind = 'conversion' and c.value_cents > 0
          order by c.account_id, c.funnel_id, c.order_id, c.at, c.event_id
        ),
        allocated as (
          select r.*, o.value_cents as order_cents,
            greatest(0, least(r.asked, coalesce(o.value_cents, 0) - coalesce(sum(r.asked) over (
              partition by r.account_id, r.funnel_id, r.order_id order by r.at, r.event_id
              rows between unbounded preceding and 1 preceding), 0)))::int as counted
          from refunds r left join orders o on o.account_id = r.account_id and o.funnel_id = r.funnel_id
            and o.order_id = r.order_id
        ),
        derived as (
          select *, case when counted > 0 then 'refund' else ${REFUND_HELD} end as new_kind,
            case when order_cents is null then 'no_order' when counted < asked then 'exceeds_order' end as new_reason
          from allocated
        ),
        changed as (
          select * from derived
          where (kind, value_cents, held_reason) is distinct from (new_kind, counted, new_reason)
        ),
        updated as (
          update agg_conversions t
          set kind = ch.new_kind, value_cents = ch.counted, asked_cents = ch.asked, held_reason = ch.new_reason
          from changed ch
          where t.account_id = ch.account_id and t.funnel_id = ch.funnel_id and t.event_id = ch.event_id
        ),
        logged_old as (${logFactRows("agg_conversions", -1, sql`changed`)}),
        logged_new as (${logFactRows(
          "agg_conversions",
          1,
          sql`(select account_id, funnel_id, at, new_kind as kind, conversion_type, counted as value_cents, step_id,
              source
            from changed) n`,
        )})
        select count(*) from changed`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Per-session derivations.

/** First key of the per-session advisory locks: keeps them apart from other advisory locks. */
const LOCK_NAMESPACE = 0x46554e4c;

/** A session's step visit as derived, with its session's segment (source, device, browser). */
interface SegmentedVisit {
  accountId: string;
  funnelId: string;
  visitorId: string;
  stepId: string;
  entryAt: Date;
  exitOutcome: string | null;
  durationMs: number | null;
  source: string;
  deviceType: string;
  browser: string;
}

/**
 * Step visits and conversion steps of the touched sessions, derived again from everything stored
 * for them. The session's lock is taken before reading, so two batches touching one session take
 * turns, and the later one reads what the earlier one committed. Returns the visitors whose
 * conversions got or changed their step (their step-converter days are derived again under their
 * locks, day-links.ts).
 *
 * The visits are derived by the database, by the rule of funnel_rebuild_rollups() (docs/metrics.md,
 * "Step visits"): each entry of a step in a session, closed by the step's next event when that is
 * an exit (events in time, kind and id order).
 */
async function deriveSessions(
  tx: Database,
  keys: SessionKey[],
): Promise<{ restepped: Map<string, VisitorKey>; revisited: Map<string, VisitorKey> }> {
  const restepped = new Map<string, VisitorKey>();
  const revisited = new Map<string, VisitorKey>();
  if (keys.length === 0) return { restepped, revisited };
  await lockKeys(
    tx,
    LOCK_NAMESPACE,
    keys.map((k) => `${k.funnelId}|${k.sessionId}`),
  );
  for (const chunk of chunks(keys)) {
    const k = sql`unnest(${sql.param(chunk.map((x) => x.accountId))}::text[]::uuid[],
      ${sql.param(chunk.map((x) => x.funnelId))}::text[]::uuid[],
      ${sql.param(chunk.map((x) => x.sessionId))}::text[]) as k(account_id, funnel_id, session_id)`;
    // Each visit deleted and written is logged as a fact change: the fact rollups add them up.
    const removed = await queryRows<RemovedVisit>(
      tx,
      sql`with removed as (
          delete from agg_step_visits v using ${k}
          where v.account_id = k.account_id and v.funnel_id = k.funnel_id and v.session_id = k.session_id
          returning v.*
        ),
        logged as (${logFactRows("agg_step_visits", -1, sql`removed`)})
        select account_id, funnel_id, visitor_id, step_id, entry_at, duration_ms, exit_outcome, source, device_type,
          browser
        from removed`,
    );
    const added = (
      await queryRows<RemovedVisit>(
        tx,
        sql`with added as (
          insert into agg_step_visits (account_id, funnel_id, session_id, visitor_id, step_id, entry_event_id, entry_at,
            exit_at, exit_outcome, duration_ms, source, device_type, browser)
          select o.account_id, o.funnel_id, o.session_id, o.visitor_id, o.step_id, o.event_id, o.at,
            case when o.next_kind = 'exit' then o.next_at end,
            case when o.next_kind = 'exit' then o.next_outcome end,
            case when o.next_kind = 'exit' then round(extract(epoch from o.next_at - o.at) * 1000)::bigint end,
            coalesce(ss.utm_source, ss.referrer_host, 'direct'), ss.device_type, ss.browser
          from (
            select s.*, lead(s.kind) over w as next_kind, lead(s.at) over w as next_at,
              lead(s.exit_outcome) over w as next_outcome
            from ${k} join agg_step_events s on s.account_id = k.account_id and s.funnel_id = k.funnel_id
              and s.session_id = k.session_id
            window w as (partition by s.funnel_id, s.session_id, s.step_id order by s.at, s.kind, s.event_id)
          ) o
          join agg_sessions ss on ss.account_id = o.account_id and ss.funnel_id = o.funnel_id
            and ss.session_id = o.session_id and ss.visitor_id = o.visitor_id
          where o.kind = 'entry'
          order by o.funnel_id, o.session_id, o.event_id
          returning *
        ),
        logged as (${logFactRows("agg_step_visits", 1, sql`added`)})
        select account_id, funnel_id, visitor_id, step_id, entry_at, duration_ms, exit_outcome, source, device_type,
          browser
        from added`,
      )
    ).map(segmented);
    const gone = removed.map(segmented);
    // Visitors whose (step, day, segment) of visits changed: their segment days are derived again.
    // Most visits are derived again unchanged; only a new visit or a session's new segment counts.
    for (const v of visitorsWithNewSegments(gone, added))
      revisited.set(`${v.funnelId}|${v.visitorId}|${v.accountId}`, v);
    for (const v of await attributeConversions(tx, k))
      restepped.set(`${v.funnelId}|${v.visitorId}|${v.accountId}`, v);
  }
  return { restepped, revisited };
}

function segmented(r: RemovedVisit): SegmentedVisit {
  return {
    accountId: r.account_id,
    funnelId: r.funnel_id,
    visitorId: r.visitor_id,
    stepId: r.step_id,
    entryAt: new Date(r.entry_at),
    exitOutcome: r.exit_outcome,
    durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
    source: r.source,
    deviceType: r.device_type,
    browser: r.browser,
  };
}

/** Visitors whose multiset of (step, entry day, source, device, browser) differs before and after. */
function visitorsWithNewSegments(removed: SegmentedVisit[], added: SegmentedVisit[]): VisitorKey[] {
  const tally = new Map<string, VisitorKey & { counts: Map<string, number> }>();
  const count = (v: SegmentedVisit, sign: number) => {
    const key = `${v.funnelId}|${v.visitorId}|${v.accountId}`;
    const t = tally.get(key) ?? {
      accountId: v.accountId,
      funnelId: v.funnelId,
      visitorId: v.visitorId,
      counts: new Map<string, number>(),
    };
    const tuple = [
      v.stepId,
      floorTo(v.entryAt, DAY_MS).toISOString(),
      v.source,
      v.deviceType,
      v.browser,
    ].join("|");
    t.counts.set(tuple, (t.counts.get(tuple) ?? 0) + sign);
    tally.set(key, t);
  };
  for (const v of removed) count(v, -1);
  for (const v of added) count(v, 1);
  return [...tally.values()]
    .filter((t) => [...t.counts.values()].some((n) => n !== 0))
    .map(({ accountId, funnelId, visitorId }) => ({ accountId, funnelId, visitorId }));
}

/** A row of agg_step_visits as the derivation deletes or writes it. */
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

/**
 * Sets each conversion's step (its session's latest step entry at or before it, ties: the larger
 * event id) and source (its session's, direct when it has none), and keeps agg_conversions_daily
 * equal to them: a conversion is counted there once both are set (source not null), and moved when
 * either changes. `sessions` is the SQL of the (account_id, funnel_id, session_id) keys derived again.
 */
async function attributeConversions(tx: Database, sessions: SQL): Promise<VisitorKey[]> {
  const changed = await queryRows<{
    account_id: string;
    funnel_id: string;
    visitor_id: string;
    step_id: string | null;
    new_step_id: string | null;
  }>(
    tx,
    sql`with c as (
        select c.account_id, c.funnel_id, c.visitor_id, c.event_id, c.at, c.conversion_type, c.value_cents,
          c.step_id, c.source,
          (select s.step_id from agg_step_events s
            where s.account_id = c.account_id and s.funnel_id = c.funnel_id and s.session_id = c.session_id
              and s.kind = 'entry' and s.at <= c.at
            order by s.at desc, s.event_id desc limit 1) as new_step_id,
          coalesce((select coalesce(ss.utm_source, ss.referrer_host, 'direct') from agg_sessions ss
            where ss.account_id = c.account_id and ss.funnel_id = c.funnel_id and ss.session_id = c.session_id
              and ss.visitor_id = c.visitor_id),
            'direct') as new_source
        from ${sessions} join agg_conversions c on c.account_id = k.account_id and c.funnel_id = k.funnel_id
          and c.session_id = k.session_id
        where ${IS_CONVERSION}
      ),
      changed as (
        select * from c where new_step_id is distinct from step_id or new_source is distinct from source
      ),
      updated as (
        update agg_conversions t set step_id = ch.new_step_id, source = ch.new_source
        from changed ch
        where t.account_id = ch.account_id and t.funnel_id = ch.funnel_id and t.event_id = ch.event_id
      ),
      logged_old as (${logFactRows(
        "agg_conversions",
        -1,
        sql`(select account_id, funnel_id, at, 'conversion' as kind, conversion_type, value_cents, step_id, source
          from changed) o`,
      )}),
      logged_new as (${logFactRows(
        "agg_conversions",
        1,
        sql`(select account_id, funnel_id, at, 'conversion' as kind, conversion_type, value_cents,
            new_step_id as step_id, new_source as source
          from changed) n`,
      )})
      select account_id, funnel_id, visitor_id, step_id, new_step_id from changed`,
  );
  return changed
    .filter((c) => c.new_step_id !== c.step_id)
    .map((c) => ({ accountId: c.account_id, funnelId: c.funnel_id, visitorId: c.visitor_id }));
}
