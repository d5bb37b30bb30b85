import { randomUUID } from "node:crypto";
import { type AbTestInput, putAbTest } from "./put-ab-test";
import type { AbTestView, CatalogContext, CatalogScope } from "./views";

type Variant = AbTestInput["variants"][number];

/** An A/B test as a client creates it: the PUT's input without the test's and variants' ids. */
export interface NewAbTestInput extends Omit<AbTestInput, "id" | "variants"> {
  variants: Omit<Variant, "id">[];
}

/**
 * Creates an A/B test of one of the account's funnels, giving it and its variants new ids, through
 * the PUT's service: the same checks (the funnel the account's, the pages that funnel's, one control,
 * splits summing to 100) and the same stored test as a PUT with those ids.
 */
export function createAbTest(
  ctx: CatalogContext,
  scope: CatalogScope,
  input: NewAbTestInput,
): Promise<AbTestView> {
  return putAbTest(ctx, scope, {
    ...input,
    id: randomUUID(),
    variants: input.variants.map((variant) => ({ ...variant, id: randomUUID() })),
  });
}
