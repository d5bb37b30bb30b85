import { fileURLToPath } from "node:url";
import { is } from "drizzle-orm";
import { PgliteDatabase } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import type { DatabaseHandle } from "./client";
import { ensurePartitions, storageKind } from "./partitions";

/** The generated and custom SQL migrations (drizzle-kit generate), applied in journal order. */
export const migrationsFolder = fileURLToPath(new URL("../drizzle", import.meta.url));

/**
 * Applies every pending migration in one transaction, tops up the event partitions, and records
 * in `handle.kind` how events are stored. Safe to run at every start.
 */
export async function migrate(handle: DatabaseHandle): Promise<void> {
  const { db } = handle;
  if (is(db, PgliteDatabase)) {
    await migratePglite(db, { migrationsFolder });
  } else if (is(db, PostgresJsDatabase)) {
    // API and worker processes may start together: one migrates, the others wait for it.
    await handle.exclusive(MIGRATION_LOCK, async () => {
      await migratePostgres(db, { migrationsFolder });
      await ensurePartitions(db);
    });
  } else {
    throw new Error("migrate: the database handle has neither the postgres.js nor the PGlite driver");
  }
  await ensurePartitions(db);
  handle.kind = await storageKind(db);
}

/** Advisory lock key that serialises concurrent migrators of one database. */
const MIGRATION_LOCK = 4_207_331_001;
