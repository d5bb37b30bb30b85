import { getFunnel as findFunnel } from "@funnel/db/queries/catalog";
import { NotFoundError } from "../../errors";
import { type CatalogContext, type CatalogScope, type FunnelView, toFunnelView } from "./views";

/** One of the account's funnels; another account's is not found. */
export async function getFunnel(
  ctx: CatalogContext,
  scope: CatalogScope,
  input: { id: string },
): Promise<FunnelView> {
  const record = await findFunnel(ctx.database.db, scope.accountId, input.id);
  if (!record) throw new NotFoundError("funnel");
  return toFunnelView(record);
}
