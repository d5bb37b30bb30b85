import { listFunnels as findFunnels } from "@funnel/db/queries/catalog";
import { type CatalogContext, type CatalogScope, type FunnelView, toFunnelView } from "./views";

/** The account's funnels with their steps and pages, oldest first. */
export async function listFunnels(ctx: CatalogContext, scope: CatalogScope): Promise<FunnelView[]> {
  const records = await findFunnels(ctx.database.db, scope.accountId);
  return records.map(toFunnelView);
}
