import { parseArgs } from "node:util";
import { z } from "zod";
import { carryOut, cliConfig, fail } from "./open-database";

const USAGE = "usage: pnpm keys:revoke <account_id> <key_id | key>";

/**
 * `pnpm keys:revoke <account_id> <key_id | key>`: revokes one of the account's keys at once. What
 * it prints names the key by its id when given one, and never repeats a key given itself.
 */
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
  if (key.length > 200) fail(`the key or key id is too long\n${USAGE}`);

  const which = z.uuid().safeParse(key).success ? `key ${key}` : "the key";
  const reply = await carryOut(cliConfig(process.env), { command: "revoke", accountId, key });
  if (reply.outcome === "revoked") return console.log(`Revoked ${which} of account ${accountId}.`);
  if (reply.outcome === "not_found") {
    const named = which === "the key" ? "key matching the one given" : which;
    fail(`account ${accountId} has no live ${named}; nothing was changed`, 1);
  }
  fail(`nothing was revoked: ${reply.outcome === "failed" ? reply.message : reply.outcome}`, 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
