import { and, eq, isNull } from "@funnel/db/orm";
import { apiKeys } from "@funnel/db/schema";
import type { AccountScope, Deps } from "../../deps";
import { UnauthorizedError } from "../../errors";
import { hashApiKey } from "./key-hash";

/** Resolves a bearer key to its account, or fails; revoked keys fail like unknown ones. */
export async function authenticate(deps: Pick<Deps, "database">, key: string): Promise<AccountScope> {
  const [row] = await deps.database.db
    .select({ id: apiKeys.id, accountId: apiKeys.accountId, notificationEmail: apiKeys.notificationEmail })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hashApiKey(key)), isNull(apiKeys.revokedAt)))
    .limit(1);
  if (!row) throw new UnauthorizedError();
  return { accountId: row.accountId, keyId: row.id, notificationEmail: row.notificationEmail };
}
