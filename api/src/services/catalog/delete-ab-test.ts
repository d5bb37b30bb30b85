import { deleteAbTest as removeAbTest } from "@funnel/db/queries/catalog";
import { NotFoundError } from "../../errors";
import type { CatalogContext, CatalogScope } from "./views";

/** Deletes one of the account's A/B tests with its variants; their ids stay the account's. */
export async function deleteAbTest(
  ctx: CatalogContext,
  scope: CatalogScope,
  input: { id: string },
): Promise<void> {
  const deleted = await removeAbTest(ctx.database.db, scope.accountId, input.id);
  if (!deleted) throw new NotFoundError("A/B test");
}
