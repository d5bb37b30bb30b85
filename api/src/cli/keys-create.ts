import { parseArgs } from "node:util";
import { keyCommand } from "./key-commands";
import { carryOut, cliConfig, fail } from "./open-database";

const USAGE =
  "usage: pnpm keys:create <account_id (uuid)> [--name <key name>] [--email <notification email>]";

/**
 * `pnpm keys:create <account_id> [--name N] [--email E]`: creates the account if it is missing
 * and a new API key for it, and prints the key alone on the last line of stdout. The key is shown
 * this once: only its hash is stored. While the API runs on the embedded default, it is the API
 * that creates it (the only process that may open that database).
 */
async function main(): Promise<void> {
  const command = parseCommandLine(process.argv.slice(2));
  const reply = await carryOut(cliConfig(process.env), command);
  if (reply.outcome !== "created") {
    fail(`no key was created: ${reply.outcome === "failed" ? reply.message : reply.outcome}`, 1);
  }
  const account = reply.accountCreated ? "new account" : "account";
  console.log(`Created API key ${reply.keyId} (${reply.prefix}…) for ${account} ${reply.accountId}.`);
  console.log("Store it now: it is not shown again.");
  console.log(reply.key);
}

function parseCommandLine(argv: string[]) {
  let parsed: { positionals: string[]; values: { name?: string | undefined; email?: string | undefined } };
  try {
    parsed = parseArgs({
      args: argv,
      options: { name: { type: "string" }, email: { type: "string" } },
      allowPositionals: true,
    });
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  }
  if (parsed.positionals.length !== 1) fail(USAGE);
  const checked = keyCommand.safeParse({
    command: "create",
    accountId: parsed.positionals[0],
    ...parsed.values,
  });
  if (!checked.success) fail(`${checked.error.issues.map((i) => i.message).join("\n")}\n${USAGE}`);
  return checked.data;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
