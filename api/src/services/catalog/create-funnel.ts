import { randomUUID } from "node:crypto";
import { type FunnelInput, putFunnel } from "./put-funnel";
import type { CatalogContext, CatalogScope, FunnelView } from "./views";

type Step = FunnelInput["steps"][number];
type Page = NonNullable<FunnelInput["pages"]>[number];

/** A funnel as a client creates it: the PUT's input without any id. */
export interface NewFunnelInput {
  name: string;
  steps: Omit<Step, "id">[];
  pages?: Omit<Page, "id">[] | undefined;
}

/**
 * Creates one of the account's funnels, giving it, its steps and its pages new ids, through the
 * PUT's service: the same checks and the same stored funnel as a PUT with those ids.
 */
export function createFunnel(
  ctx: CatalogContext,
  scope: CatalogScope,
  input: NewFunnelInput,
): Promise<FunnelView> {
  return putFunnel(ctx, scope, {
    id: randomUUID(),
    name: input.name,
    steps: input.steps.map((step) => ({ ...step, id: randomUUID() })),
    pages: input.pages?.map((page) => ({ ...page, id: randomUUID() })),
  });
}
