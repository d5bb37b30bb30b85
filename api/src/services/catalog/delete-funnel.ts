import { deleteFunnel as removeFunnel } from "@funnel/db/queries/catalog";
import { NotFoundError } from "../../errors";
import { notifyCatalogChange } from "./catalog-cache";
import type { CatalogContext, CatalogScope } from "./views";

/**
 * Deletes one of the account's funnels with its steps, pages and A/B tests. Its events stay
 * stored; events that arrive for it later are kept aside as `unknown_funnel`. Its ids stay the
 * account's: no other account can take them (and the history under them) over.
 */
export async function deleteFunnel(
  ctx: CatalogContext,
  scope: CatalogScope,
  input: { id: string },
): Promise<void> {
  const deleted = await ctx.database.db.transaction(async (tx) => {
    const removed = await removeFunnel(tx, scope.accountId, input.id);
    if (removed) await notifyCatalogChange(tx, input.id);
    return removed;
  });
  ctx.catalog?.forget(input.id);
  if (!deleted) throw new NotFoundError("funnel");
}
