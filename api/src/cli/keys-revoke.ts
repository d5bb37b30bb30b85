import { parseArgs } from "node:util";
import { z } from "zod";
import { NotFoundError } from "../errors";
import { revokeApiKey } from "../services/keys/revoke-key";
import { cliConfig, fail, openDatabase } from "./open-database";

const USAGE = "usage: pnpm keys:revoke <account_id> <key_id | key>";

/** `pnpm keys:revoke <account_id> <key_id | key>`: revokes one of the account's keys at once. */
async function main(): Promise<void> {
  let positionals: string[];
  try {
    ({ positionals } = parseArgs({ args: process.argv.slice(2), allowPositionals: true }));
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  }
  const [accountId, key] = positionals;
  if (positionals.length !== 2 || !accountId || !key) fail(USAGE);
  if (!z.uuid().safeParse(accountId).success) fail(`account_id must be a UUID\n${USAGE}`);

  const config = cliConfig(process.env);
  const database = await openDatabase(config);
  try {
    await revokeApiKey({ database }, { accountId }, { key });
    console.log(`Revoked the key of account ${accountId}.`);
  } catch (error) {
    if (error instanceof NotFoundError) fail(`account ${accountId} has no live key ${key.slice(0, 14)}…`, 1);
    throw error;
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
