import { and, eq, isNull, sql } from "drizzle-orm";
import type { Database } from "../client";
import { accounts, apiKeys } from "../schema";

/** Accounts and their API keys. Keys are stored as a hash; the key itself never reaches the database. */

export interface AccountInput {
  id: string;
  name: string;
  notificationEmail?: string | null | undefined;
}

/** Creates the account when it does not exist yet; an existing account is left as it is. */
export async function ensureAccount(db: Database, account: AccountInput): Promise<{ created: boolean }> {
  const inserted = await db
    .insert(accounts)
    .values({ id: account.id, name: account.name, notificationEmail: account.notificationEmail ?? null })
    .onConflictDoNothing({ target: accounts.id })
    .returning({ id: accounts.id });
  return { created: inserted.length > 0 };
}

export interface KeyInput {
  /** SHA-256 of the key (services/keys/key-hash.ts). */
  keyHash: string;
  prefix: string;
  name?: string | null | undefined;
  notificationEmail?: string | null | undefined;
}

export async function insertApiKey(db: Database, accountId: string, key: KeyInput): Promise<{ id: string }> {
  const [row] = await db
    .insert(apiKeys)
    .values({
      accountId,
      keyHash: key.keyHash,
      prefix: key.prefix,
      name: key.name ?? null,
      notificationEmail: key.notificationEmail ?? null,
    })
    .returning({ id: apiKeys.id });
  if (!row) throw new Error("insertApiKey: the insert returned no row");
  return row;
}

export interface ActiveKey {
  id: string;
  accountId: string;
  notificationEmail: string | null;
}

/**
 * The unrevoked key with this hash. Not scoped by account: this is the lookup that tells which
 * account a request acts for.
 */
export async function findActiveKeyByHash(db: Database, keyHash: string): Promise<ActiveKey | null> {
  const [row] = await db
    .select({ id: apiKeys.id, accountId: apiKeys.accountId, notificationEmail: apiKeys.notificationEmail })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt)))
    .limit(1);
  return row ?? null;
}

/** Revokes one of the account's keys, by id or by hash; false when the account has no such live key. */
export async function revokeApiKey(
  db: Database,
  accountId: string,
  key: { id: string } | { keyHash: string },
): Promise<boolean> {
  const match = "id" in key ? eq(apiKeys.id, key.id) : eq(apiKeys.keyHash, key.keyHash);
  const revoked = await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(apiKeys.accountId, accountId), match, isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  return revoked.length > 0;
}
