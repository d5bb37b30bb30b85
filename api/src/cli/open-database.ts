import { resolve } from "node:path";
import { createDatabase, type DatabaseHandle, DataDirLockedError } from "@funnel/db/client";
import { migrate } from "@funnel/db/migrate";
import { type Config, ConfigError, loadConfig } from "../config";
import { type KeyCommand, type KeyReply, runKeyCommand } from "./key-commands";
import { keySocketPath, NoKeySocketError, sendKeyCommand } from "./key-socket";

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

/**
 * Runs a key command where the database can be written: in this process (a server database, or
 * an embedded one no other process has open), or in the running API that holds the embedded one,
 * through its socket. Refuses, changing nothing, when a process holds it and does not answer.
 */
export async function carryOut(config: Config, command: KeyCommand): Promise<KeyReply> {
  let database: DatabaseHandle;
  try {
    database = await openDatabase(config);
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error;
    const socket = keySocketPath(config);
    try {
      return await sendKeyCommand(socket, command);
    } catch (sendError) {
      if (!(sendError instanceof NoKeySocketError)) throw sendError;
      fail(
        `${error.message}.\nNo API answers key commands on ${socket}: if process ${error.pid} is the API, ` +
          "wait until it has started and try again. Nothing was changed.",
        1,
      );
    }
  }
  try {
    return await runKeyCommand({ database }, command);
  } finally {
    await database.close();
  }
}

/** Prints one line to stderr and exits: for usage and configuration errors. */
export function fail(message: string, code = 2): never {
  console.error(message);
  process.exit(code);
}
