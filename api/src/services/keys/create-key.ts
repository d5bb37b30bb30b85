import { ensureAccount, insertApiKey } from "@funnel/db/queries/keys";
import type { Deps } from "../../deps";
import { generateApiKey } from "./key-hash";

export interface CreateKeyInput {
  accountId: string;
  /** Name of the account when it is created here; defaults to its id. */
  accountName?: string | undefined;
  /** Name of the key, to tell keys apart. */
  name?: string | undefined;
  /** Where exports requested with this key are announced. */
  notificationEmail?: string | undefined;
}

export interface CreatedKey {
  /** The key itself: shown once, stored only as its hash. */
  key: string;
  keyId: string;
  prefix: string;
  accountId: string;
  accountCreated: boolean;
}

/** Creates a key for an account, creating the account first when it does not exist. */
export async function createApiKey(ctx: Pick<Deps, "database">, input: CreateKeyInput): Promise<CreatedKey> {
  const { db } = ctx.database;
  const generated = generateApiKey();
  // Both rows or neither: a key never points at an account that failed to be created.
  return db.transaction(async (tx) => {
    const account = await ensureAccount(tx, {
      id: input.accountId,
      name: input.accountName ?? input.accountId,
      notificationEmail: input.notificationEmail,
    });
    const { id } = await insertApiKey(tx, input.accountId, {
      keyHash: generated.hash,
      prefix: generated.prefix,
      name: input.name,
      notificationEmail: input.notificationEmail,
    });
    return {
      key: generated.key,
      keyId: id,
      prefix: generated.prefix,
      accountId: input.accountId,
      accountCreated: account.created,
    };
  });
}
