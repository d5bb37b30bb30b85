import { type SQL, sql } from "drizzle-orm";
import { type Database, queryRows } from "./client";
import { RETENTION_MONTHS, storageKind } from "./partitions";
import { EVENT_ROLLUPS, FACT_ROLLUPS } from "./rollups/registry";

/**
 * Retention (CONTRACT.md "Operations"): events older than RETENTION_MONTHS are dropped as whole
 * TimescaleDB chunks (`drop_chunks`) or whole monthly partitions — never row by row — so a chunk or
 * partition goes only once all of it is older than the cutoff. The rollups, the dedupe ids and the
 * refused events follow the same cutoff by their own time column. A scheduled job runs it (boot.ts).
 */

export interface RetentionOptions {
  /** The moment the cutoff is counted back from; tests move it. Default: now. */
  now?: Date;
  months?: number;
}

export interface RetentionResult {
  /** Everything wholly older than this went. */
  cutoff: Date;
  /** Chunks or partitions of analytics_events dropped. */
  dropped: string[];
  /** Rows deleted, per table. */
  deleted: Record<string, number>;
}

/**
 * Time-bucketed rollups and the width of their buckets: a bucket goes once all of it is older than
 * the cutoff. A table not (or no longer) in the database is skipped; a test checks that every
 * rollup table is listed here or in TIMED.
 */
export const BUCKETED: [table: string, width: string][] = [
  // The registry's rollups say it themselves (db/src/rollups/registry.ts).
  ...EVENT_ROLLUPS.flatMap((r): [string, string][] =>
    "bucketWidth" in r.retention ? [[r.table, r.retention.bucketWidth]] : [],
  ),
  ...FACT_ROLLUPS.map((r): [string, string] => [r.table, r.retention.bucketWidth]),
  ["agg_products_daily", "1 day"],
  ["agg_active_days", "1 day"],
  ["agg_day_links", "1 day"],
  ["agg_step_converted", "1 day"],
  ["agg_step_converted_days", "1 day"],
];

/** Exact-time rollups and other tables, by the time column that dates a row. */
export const TIMED: [table: string, column: string][] = [
  ...EVENT_ROLLUPS.flatMap((r): [string, string][] =>
    "column" in r.retention ? [[r.table, r.retention.column]] : [],
  ),
  ["agg_sessions", "first_at"],
  ["agg_step_events", "at"],
  ["agg_step_visits", "entry_at"],
  ["agg_conversions", "at"],
  ["agg_converting_sessions", "last_at"],
  ["agg_bot_sessions", "seen_at"],
  ["rejected_events", "received_at"],
  // Events older than the window whose rollups were never derived: their events are gone.
  ["rollup_backlog", "created_at"],
];

/** A first run on a large database deletes a lot at once; the pool's usual deadline is too short. */
const STATEMENT_TIMEOUT = "15min";

export async function applyRetention(db: Database, options: RetentionOptions = {}): Promise<RetentionResult> {
  const cutoff = monthsBefore(options.now ?? new Date(), options.months ?? RETENTION_MONTHS);
  const at = sql`${cutoff.toISOString()}::timestamptz`;
  const dropped = await dropEventStorage(db, cutoff);

  const present = new Set(
    (
      await queryRows<{ name: string }>(
        db,
        sql`select t as name from unnest(${sql.param(
          [...BUCKETED, ...TIMED].map(([table]) => table),
        )}::text[]) as t where to_regclass(t) is not null`,
      )
    ).map((r) => r.name),
  );
  const deleted: Record<string, number> = {};
  // Each row is deleted as one of its account's (`t`, joined to the account `a`): no statement
  // here touches rows without naming whose they are, like every other read of events and rollups.
  const remove = async (table: string, where: SQL) => {
    if (table !== "event_ids" && !present.has(table)) return;
    deleted[table] = await db.transaction(async (tx) => {
      await tx.execute(sql.raw(`set local statement_timeout = '${STATEMENT_TIMEOUT}'`));
      const [row] = await queryRows<{ n: number | string }>(
        tx as unknown as Database,
        sql`with gone as (
            delete from ${sql.identifier(table)} t ${ofAccount(table)} and ${where} returning 1
          )
          select count(*) as n from gone`,
      );
      return Number(row?.n ?? 0);
    });
  };
  // Dedupe ids go only where their events are gone: a chunk that straddles the cutoff keeps its
  // events, and a retry of one of them must still be recognised.
  await remove(
    "event_ids",
    sql`t.created_at < least(${at}, coalesce((
        select e.created_at from analytics_events e join accounts ea on ea.id = e.account_id
        order by e.created_at limit 1
      ), ${at}))`,
  );
  for (const [table, width] of BUCKETED) await remove(table, sql`t.bucket <= ${at} - ${width}::interval`);
  for (const [table, column] of TIMED) await remove(table, sql`t.${sql.identifier(column)} < ${at}`);
  if (present.has("agg_day_links")) await unlinkGoneDays(db, at);
  return { cutoff, dropped, deleted };
}

/**
 * The join that names each deleted row's account. Refused events may have none (an unknown
 * funnel's): they go by their time alone.
 */
function ofAccount(table: string): SQL {
  return table === "rejected_events" ? sql`where true` : sql`using accounts a where t.account_id = a.id`;
}

/**
 * A day seen after the cutoff whose previous day went is now its unit's first: its link moves to
 * '-infinity', as a rebuild from what is kept would give it, and as the ingest worker expects.
 */
async function unlinkGoneDays(db: Database, at: SQL): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql.raw(`set local statement_timeout = '${STATEMENT_TIMEOUT}'`));
    await tx.execute(
      sql`with moved as (
          delete from agg_day_links t using accounts a
          where t.account_id = a.id and t.prev_bucket <> '-infinity' and t.prev_bucket <= ${at} - '1 day'::interval
          returning t.account_id, t.funnel_id, t.kind, t.step_id, t.bucket, t.units
        )
        insert into agg_day_links as l (account_id, funnel_id, kind, step_id, bucket, prev_bucket, units)
        select account_id, funnel_id, kind, step_id, bucket, '-infinity', sum(units)
        from moved
        group by account_id, funnel_id, kind, step_id, bucket
        on conflict (funnel_id, kind, step_id, bucket, prev_bucket) do update set units = l.units + excluded.units`,
    );
  });
}

/** Drops the chunks or monthly partitions of analytics_events that lie wholly before `cutoff`. */
async function dropEventStorage(db: Database, cutoff: Date): Promise<string[]> {
  const at = sql`${cutoff.toISOString()}::timestamptz`;
  if ((await storageKind(db)) === "timescaledb") {
    const rows = await queryRows<{ chunk: string }>(
      db,
      sql`select drop_chunks('analytics_events', older_than => ${at})::text as chunk`,
    );
    return rows.map((r) => r.chunk);
  }
  return db.transaction(async (txDb) => {
    const tx = txDb as unknown as Database;
    // The lock funnel_ensure_partitions() takes: creating and dropping partitions take turns.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('funnel_ensure_partitions'))`);
    const partitions = await queryRows<{ schema: string; name: string }>(
      tx,
      sql`select n.nspname as schema, c.relname as name
        from pg_inherits i
        join pg_class c on c.oid = i.inhrelid
        join pg_namespace n on n.oid = c.relnamespace
        where i.inhparent = 'analytics_events'::regclass
          and substring(pg_get_expr(c.relpartbound, c.oid) from ${"TO \\('([^']+)'\\)"}::text)::timestamptz <= ${at}
        order by c.relname`,
    );
    for (const p of partitions) {
      await tx.execute(sql`drop table if exists ${sql.identifier(p.schema)}.${sql.identifier(p.name)}`);
    }
    return partitions.map((p) => p.name);
  });
}

/** `months` calendar months before `now` in UTC, the day clamped to the month's last (Mar 31 → Feb 28). */
export function monthsBefore(now: Date, months: number): Date {
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth() - months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(
    Date.UTC(
      year,
      month,
      Math.min(now.getUTCDate(), lastDay),
      now.getUTCHours(),
      now.getUTCMinutes(),
      now.getUTCSeconds(),
      now.getUTCMilliseconds(),
    ),
  );
}
