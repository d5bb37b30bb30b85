import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type * as schema from "./schema";

/** One drizzle type for both drivers, so queries never know which one runs them. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export type DatabaseKind = "timescaledb" | "postgres" | "pglite";

export interface DatabaseHandle {
  db: Database;
  /** Set after migrations: whether analytics_events is a hypertable or natively partitioned. */
  kind: DatabaseKind;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres:// URL; absent means embedded PGlite in `dataDir`. */
  url?: string | undefined;
  /** PGlite data folder; `memory://` for a throwaway in-memory database. */
  dataDir?: string | undefined;
  poolMax?: number;
  /** Deadline of every statement and of every wait for a pooled connection. */
  statementTimeoutMs?: number;
}
