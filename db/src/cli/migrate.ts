import { join, resolve } from "node:path";
import { createDatabase, DataDirLockedError } from "../client";
import { migrate } from "../migrate";

/**
 * `pnpm db:migrate`: applies the migrations to DATABASE_URL, or without it to the embedded PGlite
 * database in `<DATA_DIR>/pglite` (DATA_DIR default `.data`, relative to where pnpm was run).
 * Stop the API first when migrating PGlite: one process at a time can open its folder.
 */
async function main(): Promise<void> {
  const url = process.env.DATABASE_URL || undefined;
  // pnpm runs this script inside db/; INIT_CWD is where the user typed the command.
  const base = process.env.INIT_CWD ?? process.cwd();
  const dataDir = join(resolve(base, process.env.DATA_DIR || ".data"), "pglite");

  const handle = await createDatabase(url ? { url, poolMax: 1, statementTimeoutMs: 120_000 } : { dataDir });
  try {
    await migrate(handle);
    const where = url ? new URL(url).host + new URL(url).pathname : dataDir;
    console.log(`migrated ${where}: analytics_events stored as ${handle.kind}`);
  } finally {
    await handle.close();
  }
}

main().catch((error: unknown) => {
  // The API already holds the embedded database (and migrated it when it started): one line, no stack.
  console.error(error instanceof DataDirLockedError ? error.message : error);
  process.exit(1);
});
