import { findActiveKeyByHash } from "@funnel/db/queries/keys";
import type { AccountScope, Deps } from "../../deps";
import { UnauthorizedError } from "../../errors";
import { hashApiKey } from "./key-hash";

/** Resolves a bearer key to its account, or fails; revoked keys fail like unknown ones. */
export async function authenticate(deps: Pick<Deps, "database">, key: string): Promise<AccountScope> {
  const row = await findActiveKeyByHash(deps.database.db, hashApiKey(key));
  if (!row) throw new UnauthorizedError();
  return { accountId: row.accountId, keyId: row.id, notificationEmail: row.notificationEmail };
}
