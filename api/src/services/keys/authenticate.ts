import { findActiveKeyByHash } from "@funnel/db/queries/keys";
import type { AccountScope, Deps } from "../../deps";
import { UnauthorizedError } from "../../errors";
import { hashApiKey } from "./key-hash";

/**
 * Resolves a bearer key to its account, or fails; revoked keys fail like unknown ones. Live keys
 * are remembered in `deps.keys` while it follows the database's key changes (key-cache.ts).
 */
export async function authenticate(
  deps: Pick<Deps, "database" | "keys">,
  key: string,
): Promise<AccountScope> {
  const hash = hashApiKey(key);
  const cached = deps.keys.get(hash);
  if (cached) return cached;
  const version = deps.keys.version();
  const row = await findActiveKeyByHash(deps.database.db, hash);
  if (!row) throw new UnauthorizedError();
  const scope = { accountId: row.accountId, keyId: row.id, notificationEmail: row.notificationEmail };
  deps.keys.store(hash, scope, version);
  return scope;
}
