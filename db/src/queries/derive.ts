import { type SQL, sql } from "drizzle-orm";
import { type Database, queryRows } from "../client";
import { setAsideBotSessions } from "./bot-sessions";
import { lockAccountsShared } from "./privacy";
import { type RollupEvent, STAGED, stageTable, writeRollups } from "./rollups";

/**
 * The deriver: rollups kept up from stored events, off the path that accepts and stores them.
 *
 * The ingest writer stores each new event and adds it to `rollup_backlog` in the same transaction
 * (`addToBacklog`), doing no rollup work. `deriveLane` then takes a lane's oldest rows, derives their
 * rollups (rollups.ts) and deletes them, in one transaction: every stored event is counted once in
 * every rollup, whatever process runs it and wherever it stops. A lane is derived by one
 * transaction at a time (an advisory lock taken without waiting), so several worker processes can
 * run derivers side by side.
 */

/** Lanes of the backlog: a visitor's events always fall in the same one (hash of funnel and visitor). */
export const BACKLOG_LANES = 4;

/** Events derived in one transaction at most: the rollups' unit locks must fit the lock table. */
export const DERIVE_MAX_EVENTS = 4_000;

/** First key of the lane locks: apart from the account, session, unit and order locks. */
export const LANE_LOCK_NAMESPACE = 0x44455256;

/** The columns of an event row, in the order of the events table (the backlog holds them all). */
const EVENT_COLUMNS = sql.raw(
  [
    "event_id",
    "account_id",
    "funnel_id",
    "event_type",
    "visitor_id",
    "session_id",
    "page_id",
    "funnel_step_id",
    "previous_step_id",
    "conversion_type",
    "value_cents",
    "conversion_goal_id",
    "order_id",
    "variant_id",
    "url",
    "user_agent",
    "ip_address",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "exit_outcome",
    "next_step_id",
    "device_type",
    "browser",
    "os",
    "country",
    "is_bot",
    "metadata",
    "received_at",
    "created_at",
  ].join(", "),
);

/**
 * In the ingest writer's transaction: the new events (those left in STAGED once duplicates are
 * removed) join the backlog, each in its visitor's lane.
 */
export async function addToBacklog(tx: Database): Promise<void> {
  await tx.execute(
    sql`insert into rollup_backlog (lane, ${EVENT_COLUMNS})
      select ${laneOf(sql`funnel_id`, sql`visitor_id`)}, ${EVENT_COLUMNS}
      from ${sql.raw(STAGED)} order by created_at`,
  );
}

/** The backlog lane of a funnel's visitor (SQL of two uuid values). */
export function laneOf(funnelId: SQL, visitorId: SQL): SQL {
  return sql`(hashtext(${funnelId}::text || '|' || ${visitorId}::text) & 2147483647) % ${BACKLOG_LANES}`;
}

export interface DeriveResult {
  /** Backlog rows derived and removed (bots included: stored, never counted). */
  derived: number;
  /** False when another transaction holds the lane. */
  ran: boolean;
}

/**
 * Derives the rollups of up to `maxEvents` of the lane's oldest backlog rows, in one transaction.
 * Answers `{ ran: false }` at once when another transaction is deriving the lane.
 */
export async function deriveLane(
  db: Database,
  lane: number,
  maxEvents: number = DERIVE_MAX_EVENTS,
): Promise<DeriveResult> {
  return db.transaction(async (txDb) => {
    const tx = txDb as unknown as Database;
    const [lock] = await queryRows<{ held: boolean }>(
      tx,
      sql`select pg_try_advisory_xact_lock(${LANE_LOCK_NAMESPACE}::int4, ${lane}::int4) as held`,
    );
    if (!lock?.held) return { derived: 0, ran: false };
    const rows = await queryRows<{ seq: string | number; account_id: string }>(
      tx,
      sql`select seq, account_id from rollup_backlog
        where lane = ${lane} and failed_at is null order by seq limit ${maxEvents}`,
    );
    if (rows.length === 0) return { derived: 0, ran: true };
    try {
      // A consent withdrawal takes its account's lock exclusively: it waits for this derivation, or
      // this one waits for it and then reads the rows it anonymised.
      await lockAccountsShared(
        tx,
        rows.map((r) => r.account_id),
      );
      await stageTable(tx);
      // The rows leave the backlog for STAGED, and each account's progress moves up to them.
      await tx.execute(
        sql`with taken as (
            delete from rollup_backlog
            where lane = ${lane} and seq = any(${sql.param(rows.map((r) => String(r.seq)))}::text[]::int8[])
            returning ${EVENT_COLUMNS}, stored_at
          ), staged as (
            insert into ${sql.raw(STAGED)} (${EVENT_COLUMNS}) select ${EVENT_COLUMNS} from taken
          )
          insert into rollup_progress as p (account_id, stored_through)
          select account_id, max(stored_at) from taken group by account_id order by account_id
          on conflict (account_id) do update set stored_through = greatest(p.stored_through, excluded.stored_through)`,
      );
      await setAsideBotSessions(tx, STAGED);
      // The keys of the sessions and visitors whose derived rows are made again; the rest is in STAGED.
      const events = await queryRows<RollupEvent>(
        tx,
        sql`select account_id as "accountId", funnel_id as "funnelId", visitor_id as "visitorId",
            session_id as "sessionId", event_type as "eventType", funnel_step_id as "funnelStepId"
          from ${sql.raw(STAGED)} where not is_bot`,
      );
      await writeRollups(tx, events);
    } catch (error) {
      throw new BacklogRowsError(
        rows.map((r) => String(r.seq)),
        error,
      );
    }
    return { derived: rows.length, ran: true };
  });
}

/** A derivation that failed, with the backlog rows it held (their `seq`), the database's error as its cause. */
export class BacklogRowsError extends Error {
  constructor(
    readonly seqs: string[],
    cause: unknown,
  ) {
    super(`deriving ${seqs.length} backlog rows failed`, { cause });
  }
}

/**
 * Marks these rows of the lane failed, so the lane goes on without them; called when deriving a
 * row alone failed (a value the rollups cannot hold). Kept in the backlog for an operator. A row
 * already marked stays as it was, so two loops that met the same row mark it once and nothing else.
 */
export async function failRows(db: Database, lane: number, seqs: string[], error: string): Promise<void> {
  await db.execute(
    sql`update rollup_backlog set failed_at = now(), error = ${error.slice(0, 2_000)}
      where lane = ${lane} and seq = any(${sql.param(seqs)}::text[]::int8[]) and failed_at is null`,
  );
}

/** Derives every lane until the backlog holds nothing left to derive (tests, tools, shutdown). */
export async function deriveAll(db: Database, maxEvents: number = DERIVE_MAX_EVENTS): Promise<number> {
  let total = 0;
  for (;;) {
    let derived = 0;
    let busy = false;
    for (let lane = 0; lane < BACKLOG_LANES; lane++) {
      const result = await deriveLane(db, lane, maxEvents);
      derived += result.derived;
      if (!result.ran) busy = true;
    }
    total += derived;
    if (derived === 0 && !busy) return total;
    if (derived === 0) await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * How fresh the account's rollups are: every event of the account stored (committed) before this
 * time is derived. The store time (its writer's transaction start) of the account's oldest waiting
 * row; with none waiting, that of the newest row derived, so the answer stays the same until new
 * events come. Null for an account with no events yet. Read it before the report's queries.
 */
export async function derivedThrough(db: Database, accountId: string): Promise<Date | null> {
  const [row] = await queryRows<{ through: Date | string | null }>(
    db,
    sql`select coalesce(
        (select min(stored_at) from rollup_backlog where account_id = ${accountId}::uuid and failed_at is null),
        (select stored_through from rollup_progress where account_id = ${accountId}::uuid)
      ) as through`,
  );
  return row?.through ? new Date(row.through) : null;
}
