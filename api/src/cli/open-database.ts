import { resolve } from "node:path";
import { createDatabase, type DatabaseHandle } from "@funnel/db/client";
import { migrate } from "@funnel/db/migrate";
import { type Config, ConfigError, loadConfig } from "../config";

/**
 * What the command-line tools share: the API's config (the one reader of process.env) and its
 * database, migrated, with PGlite at `<DATA_DIR>/pglite` when there is no DATABASE_URL.
 */
export function cliConfig(env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

export async function openDatabase(config: Config): Promise<DatabaseHandle> {
  const handle = await createDatabase({
    url: config.DATABASE_URL,
    dataDir: resolve(config.DATA_DIR, "pglite"),
    poolMax: 1,
    statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
    applicationName: "funnel-cli",
  });
  await migrate(handle);
  return handle;
}

/** Prints one line to stderr and exits: for usage and configuration errors. */
export function fail(message: string, code = 2): never {
  console.error(message);
  process.exit(code);
}
