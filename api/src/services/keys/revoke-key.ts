import { revokeApiKey as markRevoked } from "@funnel/db/queries/keys";
import type { AccountScope, Deps } from "../../deps";
import { NotFoundError } from "../../errors";
import { hashApiKey, KEY_PREFIX } from "./key-hash";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Revokes one of the account's keys, named by its id or by the key itself. From then on the key
 * fails like an unknown one. A key that is not the account's, or already revoked, is not found.
 */
export async function revokeApiKey(
  ctx: Pick<Deps, "database"> & Partial<Pick<Deps, "keys">>,
  scope: Pick<AccountScope, "accountId">,
  input: { key: string },
): Promise<void> {
  const byKey = input.key.startsWith(KEY_PREFIX);
  if (!byKey && !UUID.test(input.key)) throw new NotFoundError("API key");
  const which = byKey ? { keyHash: hashApiKey(input.key) } : { id: input.key };
  const revoked = await markRevoked(ctx.database.db, scope.accountId, which);
  if (!revoked) throw new NotFoundError("API key");
  // Other API processes hear of it from the database (key-cache.ts); this one need not wait.
  ctx.keys?.forgetAll();
}
