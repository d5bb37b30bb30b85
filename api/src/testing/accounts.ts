import { randomUUID } from "node:crypto";
import type { DatabaseHandle } from "@funnel/db/client";
import { createApiKey } from "../services/keys/create-key";
import { revokeApiKey } from "../services/keys/revoke-key";

export interface AccountWithKey {
  accountId: string;
  /** The bearer key itself. */
  key: string;
  keyId: string;
  /** `{ authorization: "Bearer <key>" }`, for `app.request()`. */
  headers: { authorization: string };
}

export interface AccountOptions {
  /** Default: a new random id, so tests never share accounts. */
  accountId?: string;
  accountName?: string;
  keyName?: string;
  notificationEmail?: string;
}

/** A new account with a live API key, through the same service `pnpm keys:create` uses. */
export async function createAccountWithKey(
  database: DatabaseHandle,
  options: AccountOptions = {},
): Promise<AccountWithKey> {
  const created = await createApiKey(
    { database },
    {
      accountId: options.accountId ?? randomUUID(),
      accountName: options.accountName ?? "Test account",
      name: options.keyName ?? "test",
      notificationEmail: options.notificationEmail,
    },
  );
  return {
    accountId: created.accountId,
    key: created.key,
    keyId: created.keyId,
    headers: { authorization: `Bearer ${created.key}` },
  };
}

/** Another key of the same account, already revoked. */
export async function createRevokedKey(database: DatabaseHandle, accountId: string): Promise<string> {
  const { key } = await createAccountWithKey(database, { accountId, keyName: "revoked" });
  await revokeApiKey({ database }, { accountId }, { key });
  return key;
}
