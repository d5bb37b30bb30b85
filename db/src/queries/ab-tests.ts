import { sql } from "drizzle-orm";
import { type Database, queryRows } from "../client";
import { countedEvent } from "./bot-sessions";

/**
 * Raw figures of an A/B test, read from the events of its funnel (bot sessions left out):
 * - exposure: a visitor belongs to the variant of the first event in the window that names one —
 *   by the event's `variant_id` when it is one of the test's variants, else by its `page_id`
 *   being a variant's page;
 * - a visitor converted when it has a conversion event in the funnel at or after its exposure
 *   and before the window ends; its revenue is the sum of those conversions' values.
 * Per variant: exposed visitors, converted visitors, revenue, and Σ revenue² for the t-test.
 * The statistics themselves are @funnel/metrics' business.
 */

export interface AbTestWindow {
  funnelId: string;
  /** The test's variants: id and page (null once the page was removed). */
  variants: { id: string; pageId: string | null }[];
  /** Inclusive. */
  start: Date;
  /** Exclusive. */
  end: Date;
}

export interface VariantFigures {
  variantId: string;
  visitors: number;
  conversions: number;
  revenueCents: number;
  revenueSumOfSquares: number;
}

export async function abTestVariantFigures(
  db: Database,
  accountId: string,
  window: AbTestWindow,
): Promise<VariantFigures[]> {
  if (window.variants.length === 0 || window.start >= window.end) return [];
  const ids = sql`${sql.param(window.variants.map((v) => v.id))}::text[]`;
  const pageIds = sql`${sql.param(window.variants.map((v) => v.pageId))}::text[]`;
  const start = window.start.toISOString();
  const end = window.end.toISOString();
  const rows = await queryRows<{
    variant_id: string;
    visitors: number;
    conversions: number;
    revenue_cents: string;
    revenue_sum_of_squares: string;
  }>(
    db,
    sql`
      with variant_keys as (
        select k.variant_id::uuid as variant_id, k.page_id::uuid as page_id, k.ord
        from unnest(${ids}, ${pageIds}) with ordinality as k(variant_id, page_id, ord)
      ),
      exposure_events as (
        select e.visitor_id, e.created_at, e.event_id,
          coalesce(
            (select k.variant_id from variant_keys k where k.variant_id = e.variant_id),
            (select k.variant_id from variant_keys k where k.page_id = e.page_id order by k.ord limit 1)
          ) as variant_id
        from analytics_events e
        where e.account_id = ${accountId}
          and e.funnel_id = ${window.funnelId}
          and e.created_at >= ${start}::timestamptz
          and e.created_at < ${end}::timestamptz
          and ${countedEvent("e")}
          and (
            e.variant_id in (select variant_id from variant_keys)
            or e.page_id in (select page_id from variant_keys where page_id is not null)
          )
      ),
      exposures as (
        select distinct on (visitor_id) visitor_id, variant_id, created_at as exposed_at
        from exposure_events
        order by visitor_id, created_at, event_id
      ),
      per_visitor as (
        select x.variant_id, x.visitor_id,
          count(c.event_id) as conversions,
          coalesce(sum(c.value_cents), 0)::numeric as revenue
        from exposures x
        left join analytics_events c
          on c.account_id = ${accountId}
          and c.funnel_id = ${window.funnelId}
          and c.visitor_id = x.visitor_id
          and c.event_type = 'conversion'
          and ${countedEvent("c")}
          and c.created_at >= x.exposed_at
          and c.created_at < ${end}::timestamptz
        group by x.variant_id, x.visitor_id
      )
      select variant_id::text as variant_id,
        count(*)::int as visitors,
        (count(*) filter (where conversions > 0))::int as conversions,
        sum(revenue)::text as revenue_cents,
        sum(revenue * revenue)::text as revenue_sum_of_squares
      from per_visitor
      group by variant_id`,
  );
  return rows.map((r) => ({
    variantId: r.variant_id,
    visitors: Number(r.visitors),
    conversions: Number(r.conversions),
    revenueCents: Number(r.revenue_cents),
    revenueSumOfSquares: Number(r.revenue_sum_of_squares),
  }));
}
