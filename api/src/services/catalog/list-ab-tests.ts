import { listAbTests as findAbTests } from "@funnel/db/queries/catalog";
import { type AbTestView, type CatalogContext, type CatalogScope, toAbTestView } from "./views";

/** The account's A/B tests, of one funnel when `funnel_id` is given, oldest first. */
export async function listAbTests(
  ctx: CatalogContext,
  scope: CatalogScope,
  input: { funnel_id?: string | undefined } = {},
): Promise<AbTestView[]> {
  const records = await findAbTests(ctx.database.db, scope.accountId, { funnelId: input.funnel_id });
  return records.map(toAbTestView);
}
