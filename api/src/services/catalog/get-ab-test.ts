import { getAbTest as findAbTest } from "@funnel/db/queries/catalog";
import { NotFoundError } from "../../errors";
import { type AbTestView, type CatalogContext, type CatalogScope, toAbTestView } from "./views";

/** One of the account's A/B tests; another account's is not found. */
export async function getAbTest(
  ctx: CatalogContext,
  scope: CatalogScope,
  input: { id: string },
): Promise<AbTestView> {
  const record = await findAbTest(ctx.database.db, scope.accountId, input.id);
  if (!record) throw new NotFoundError("A/B test");
  return toAbTestView(record);
}
