import type { AbTestRecord, FunnelRecord } from "@funnel/db/queries/catalog";
import type { AccountScope, Deps } from "../../deps";

/**
 * What every catalog service reaches: the database, and this process's catalog cache when it has
 * one (a write forgets the funnel there at once; other processes hear of it from the database).
 */
export type CatalogContext = Pick<Deps, "database"> & Partial<Pick<Deps, "catalog">>;

/** Scope of a catalog call: the key's account. */
export type CatalogScope = Pick<AccountScope, "accountId">;

/** A funnel as the API shows it. */
export interface FunnelView {
  id: string;
  name: string;
  steps: { id: string; name: string; step_type: string; position: number }[];
  pages: { id: string; name: string; url: string | null }[];
  created_at: string;
  updated_at: string;
}

/** An A/B test as the API shows it. */
export interface AbTestView {
  id: string;
  funnel_id: string;
  test_name: string;
  status: AbTestStatus;
  started_at: string;
  completed_at: string | null;
  winner_variant_id: string | null;
  variants: {
    id: string;
    variant_name: string;
    is_control: boolean;
    page_id: string | null;
    traffic_split: number;
  }[];
  created_at: string;
}

export const AB_TEST_STATUSES = ["running", "completed", "stopped"] as const;
export type AbTestStatus = (typeof AB_TEST_STATUSES)[number];

export function toFunnelView(record: FunnelRecord): FunnelView {
  return {
    id: record.id,
    name: record.name,
    steps: record.steps.map((s) => ({ id: s.id, name: s.name, step_type: s.stepType, position: s.position })),
    pages: record.pages.map((p) => ({ id: p.id, name: p.name, url: p.url })),
    created_at: record.createdAt.toISOString(),
    updated_at: record.updatedAt.toISOString(),
  };
}

export function toAbTestView(record: AbTestRecord): AbTestView {
  return {
    id: record.id,
    funnel_id: record.funnelId,
    test_name: record.testName,
    status: asStatus(record.status),
    started_at: record.startedAt.toISOString(),
    completed_at: record.completedAt?.toISOString() ?? null,
    winner_variant_id: record.winnerVariantId,
    variants: record.variants.map((v) => ({
      id: v.id,
      variant_name: v.variantName,
      is_control: v.isControl,
      page_id: v.pageId,
      traffic_split: v.trafficSplit,
    })),
    created_at: record.createdAt.toISOString(),
  };
}

/** The column is free text; only the API writes it, so anything else is a row written by hand. */
function asStatus(status: string): AbTestStatus {
  return (AB_TEST_STATUSES as readonly string[]).includes(status) ? (status as AbTestStatus) : "stopped";
}
