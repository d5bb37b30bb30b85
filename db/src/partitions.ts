import { is, sql } from "drizzle-orm";
import { PgliteDatabase } from "drizzle-orm/pglite";
import { type Database, type DatabaseKind, queryRows } from "./client";

/** Events are kept 13 months (SPEC-FUN-004 "Partition retention"); partitions exist that far back. */
export const RETENTION_MONTHS = 13;
/** Months of partitions kept ready ahead of now, so a missed scheduled run never blocks inserts. */
export const MONTHS_AHEAD = 3;

export interface EnsurePartitionsOptions {
  /** The moment the window is computed from; tests move it. Default: the database's now(). */
  now?: Date;
  monthsBack?: number;
  monthsAhead?: number;
}

/**
 * Creates the missing monthly partitions of analytics_events (UTC months, `monthsBack` before now
 * to `monthsAhead` after) and returns how many it created. Idempotent; a no-op on a hypertable,
 * where TimescaleDB creates chunks itself. Run at migration and on a schedule.
 */
export async function ensurePartitions(db: Database, options: EnsurePartitionsOptions = {}): Promise<number> {
  const monthsBack = options.monthsBack ?? RETENTION_MONTHS;
  const monthsAhead = options.monthsAhead ?? MONTHS_AHEAD;
  const at = options.now ? sql`${options.now.toISOString()}::timestamptz` : sql`now()`;
  const rows = await queryRows<{ created: number }>(
    db,
    sql`select funnel_ensure_partitions(${monthsBack}::int, ${monthsAhead}::int, ${at}) as created`,
  );
  return Number(rows[0]?.created ?? 0);
}

/** How analytics_events is stored: a TimescaleDB hypertable, or native partitions on PostgreSQL or PGlite. */
export async function storageKind(db: Database): Promise<DatabaseKind> {
  if (is(db, PgliteDatabase)) return "pglite";
  const [extension] = await queryRows<{ installed: boolean }>(
    db,
    sql`select exists (select 1 from pg_extension where extname = 'timescaledb') as installed`,
  );
  if (!extension?.installed) return "postgres";
  const [table] = await queryRows<{ hypertable: boolean }>(
    db,
    sql`select exists (
      select 1 from timescaledb_information.hypertables
      where hypertable_name = 'analytics_events' and hypertable_schema = current_schema()
    ) as hypertable`,
  );
  return table?.hypertable ? "timescaledb" : "postgres";
}
