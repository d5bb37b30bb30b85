import { parseArgs } from "node:util";
import { z } from "zod";
import { createApiKey } from "../services/keys/create-key";
import { cliConfig, fail, openDatabase } from "./open-database";

const USAGE =
  "usage: pnpm keys:create <account_id (uuid)> [--name <key name>] [--email <notification email>]";

/**
 * `pnpm keys:create <account_id> [--name N] [--email E]`: creates the account if it is missing
 * and a new API key for it, and prints the key alone on the last line of stdout. The key is shown
 * this once: only its hash is stored.
 */
async function main(): Promise<void> {
  const input = parseCommandLine(process.argv.slice(2));
  const config = cliConfig(process.env);
  const database = await openDatabase(config);
  try {
    const created = await createApiKey(
      { database },
      {
        accountId: input.accountId,
        name: input.name,
        notificationEmail: input.email,
      },
    );
    const account = created.accountCreated ? "new account" : "account";
    console.log(`Created API key ${created.keyId} (${created.prefix}…) for ${account} ${created.accountId}.`);
    console.log("Store it now: it is not shown again.");
    console.log(created.key);
  } finally {
    await database.close();
  }
}

const args = z.object({
  accountId: z.uuid({ message: "account_id must be a UUID" }),
  name: z.string().min(1).max(200).optional(),
  email: z.email({ message: "--email must be an email address" }).optional(),
});

function parseCommandLine(argv: string[]): z.infer<typeof args> {
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
  const checked = args.safeParse({ accountId: parsed.positionals[0], ...parsed.values });
  if (!checked.success) fail(`${checked.error.issues.map((i) => i.message).join("\n")}\n${USAGE}`);
  return checked.data;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
