import { upsertAbTest } from "@funnel/db/queries/catalog";
import { InvalidError, NotFoundError } from "../../errors";
import { idErrors, repeated, variantErrors } from "./rules";
import {
  type AbTestStatus,
  type AbTestView,
  type CatalogContext,
  type CatalogScope,
  toAbTestView,
} from "./views";

export interface AbTestInput {
  id: string;
  funnel_id: string;
  test_name: string;
  status: AbTestStatus;
  /** ISO 8601. */
  started_at: string;
  completed_at?: string | null | undefined;
  variants: {
    id: string;
    variant_name: string;
    is_control: boolean;
    page_id: string;
    traffic_split: number;
  }[];
}

/**
 * Creates or replaces one of the account's A/B tests, with exactly the variants listed. The funnel
 * must be the account's (else not found) and every variant's page one of that funnel's pages. A test
 * id that another account has, or had and deleted, is not found, and such a variant id taken.
 */
export async function putAbTest(
  ctx: CatalogContext,
  scope: CatalogScope,
  input: AbTestInput,
): Promise<AbTestView> {
  const startedAt = new Date(input.started_at);
  const completedAt = input.completed_at ? new Date(input.completed_at) : null;
  const errors = [...repeated(input.variants, "variants", "id"), ...variantErrors(input.variants)];
  if (completedAt !== null && completedAt < startedAt) {
    errors.push({ field: "completed_at", message: "must not be before started_at" });
  }
  if (errors.length > 0) throw new InvalidError("invalid A/B test", errors);

  const result = await upsertAbTest(ctx.database.db, scope.accountId, {
    id: input.id,
    funnelId: input.funnel_id,
    testName: input.test_name,
    status: input.status,
    startedAt,
    completedAt,
    variants: input.variants.map((v) => ({
      id: v.id,
      variantName: v.variant_name,
      isControl: v.is_control,
      pageId: v.page_id,
      trafficSplit: v.traffic_split,
    })),
  });
  switch (result.refused) {
    case null:
      return toAbTestView(result.record);
    case "not_found":
      throw new NotFoundError(result.entity === "funnel" ? "funnel" : "A/B test");
    case "unknown_pages": {
      const variants = input.variants.map((v) => ({ id: v.page_id }));
      throw new InvalidError(
        "invalid A/B test",
        idErrors("variants", variants, result.ids, "page is not a page of the test's funnel", "page_id"),
      );
    }
    case "id_taken":
      throw new InvalidError(
        "invalid A/B test",
        idErrors("variants", input.variants, result.ids, "id is already used by another test"),
      );
  }
}
