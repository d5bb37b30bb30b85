import { upsertFunnel } from "@funnel/db/queries/catalog";
import { InvalidError, NotFoundError } from "../../errors";
import { notifyCatalogChange } from "./catalog-cache";
import { idErrors, repeated } from "./rules";
import { type CatalogContext, type CatalogScope, type FunnelView, toFunnelView } from "./views";

export interface FunnelInput {
  id: string;
  name: string;
  steps: { id: string; name: string; step_type: string; position: number }[];
  /** Absent: the funnel's pages stay as they are; `[]` removes them. */
  pages?: { id: string; name: string; url: string | null }[] | undefined;
}

/**
 * Creates or replaces one of the account's funnels: steps (and pages, when given) not listed are
 * removed. A funnel id that another account has, or had and deleted, is refused as not found, and
 * such a step or page id as taken: never taken over, and answered alike whether deleted or not.
 */
export async function putFunnel(
  ctx: CatalogContext,
  scope: CatalogScope,
  input: FunnelInput,
): Promise<FunnelView> {
  const pages = input.pages ?? [];
  const errors = [
    ...repeated(input.steps, "steps", "id"),
    ...repeated(input.steps, "steps", "position"),
    ...repeated(pages, "pages", "id"),
  ];
  if (errors.length > 0) throw new InvalidError("invalid funnel", errors);

  // API processes that remember the funnel hear of the new steps when this commits (catalog-cache.ts).
  const result = await ctx.database.db.transaction(async (tx) => {
    const written = await upsertFunnel(tx, scope.accountId, {
      id: input.id,
      name: input.name,
      steps: input.steps.map((s) => ({
        id: s.id,
        name: s.name,
        stepType: s.step_type,
        position: s.position,
      })),
      pages: input.pages?.map((p) => ({ id: p.id, name: p.name, url: p.url })),
    });
    if (written.refused === null) await notifyCatalogChange(tx, input.id);
    return written;
  });
  ctx.catalog?.forget(input.id);
  switch (result.refused) {
    case null:
      return toFunnelView(result.record);
    case "not_found":
      throw new NotFoundError("funnel");
    case "id_taken": {
      const list = result.entity === "steps" ? input.steps : pages;
      throw new InvalidError(
        "invalid funnel",
        idErrors(result.entity, list, result.ids, "id is already used by another funnel"),
      );
    }
  }
}
