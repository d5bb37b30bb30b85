ALTER TABLE "agg_conversions" ALTER COLUMN "kind" SET DATA TYPE varchar(16);--> statement-breakpoint
ALTER TABLE "agg_conversions" ADD COLUMN "asked_cents" integer;--> statement-breakpoint
ALTER TABLE "agg_conversions" ADD COLUMN "held_reason" varchar(20);--> statement-breakpoint
CREATE INDEX "idx_agg_conversions_order" ON "agg_conversions" USING btree ("account_id","funnel_id","order_id") WHERE "agg_conversions"."order_id" is not null;--> statement-breakpoint
-- Refunds count only against their order (docs/metrics.md, "Refunds"), as the ingest worker keeps
-- them (db/src/queries/rollups.ts, deriveOrders): the order of a refund is the earliest conversion
-- (time, then event id) of its funnel and account with the same order_id and a value above 0; the
-- order's refunds, oldest first (time, then event id), each count what is left of its value, at
-- most what they ask. A refund that counts nothing is kept aside as refund_held with its reason.
-- The value a refund asked is kept in asked_cents; value_cents is what counts.
CREATE OR REPLACE FUNCTION funnel_rebuild_refunds() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  UPDATE agg_conversions c
  SET kind = m.kind, value_cents = m.counted, asked_cents = m.asked, held_reason = m.reason
  FROM (
    SELECT a.funnel_id, a.event_id, a.asked, a.counted::int AS counted,
      CASE WHEN a.counted > 0 THEN 'refund' ELSE 'refund_held' END AS kind,
      CASE WHEN a.order_cents IS NULL THEN 'no_order' WHEN a.counted < a.asked THEN 'exceeds_order' END AS reason
    FROM (
      SELECT r.funnel_id, r.event_id, r.asked, o.value_cents AS order_cents,
        greatest(0, least(r.asked, coalesce(o.value_cents, 0) - coalesce(sum(r.asked) OVER (
          PARTITION BY r.account_id, r.funnel_id, r.order_id ORDER BY r.at, r.event_id
          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))) AS counted
      FROM (
        SELECT account_id, funnel_id, event_id, order_id, at, coalesce(asked_cents, value_cents, 0) AS asked
        FROM agg_conversions
        WHERE kind IN ('refund', 'refund_held')
      ) r
      LEFT JOIN (
        SELECT DISTINCT ON (account_id, funnel_id, order_id) account_id, funnel_id, order_id, value_cents
        FROM agg_conversions
        WHERE kind = 'conversion' AND order_id IS NOT NULL AND value_cents > 0
        ORDER BY account_id, funnel_id, order_id, at, event_id
      ) o ON o.account_id = r.account_id AND o.funnel_id = r.funnel_id AND o.order_id = r.order_id
    ) a
  ) m
  WHERE c.funnel_id = m.funnel_id AND c.event_id = m.event_id
    AND (c.kind, c.value_cents, c.asked_cents, c.held_reason) IS DISTINCT FROM (m.kind, m.counted, m.asked, m.reason);
END;
$$;
--> statement-breakpoint
-- funnel_rebuild_conversions_daily() of migration 0013, with held refunds left out: they count nowhere.
CREATE OR REPLACE FUNCTION funnel_rebuild_conversions_daily() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  TRUNCATE agg_conversions_daily;

  UPDATE agg_conversions c
  SET source = CASE WHEN c.kind = 'conversion' THEN coalesce((
    SELECT coalesce(s.utm_source, s.referrer_host) FROM agg_sessions s
    WHERE s.funnel_id = c.funnel_id AND s.session_id = c.session_id AND s.visitor_id = c.visitor_id
  ), 'direct') END
  WHERE c.source IS DISTINCT FROM CASE WHEN c.kind = 'conversion' THEN coalesce((
    SELECT coalesce(s.utm_source, s.referrer_host) FROM agg_sessions s
    WHERE s.funnel_id = c.funnel_id AND s.session_id = c.session_id AND s.visitor_id = c.visitor_id
  ), 'direct') END;

  INSERT INTO agg_conversions_daily
  SELECT account_id, funnel_id, date_bin('1 day', at, timestamptz '1970-01-01 00:00:00+00'), kind,
    coalesce(conversion_type, ''), coalesce(step_id, '00000000-0000-0000-0000-000000000000'::uuid),
    coalesce(source, ''), count(*), coalesce(sum(value_cents), 0), count(value_cents),
    count(*) FILTER (WHERE value_cents > 0), coalesce(sum(value_cents) FILTER (WHERE value_cents > 0), 0)
  FROM agg_conversions
  WHERE kind IN ('conversion', 'refund')
  GROUP BY 1, 2, 3, 4, 5, 6, 7;
END;
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION funnel_rebuild_rollups() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM funnel_rebuild_base_rollups();
  PERFORM funnel_rebuild_refunds();
  PERFORM funnel_rebuild_conversions_daily();
  PERFORM funnel_rebuild_converting_sessions();
  PERFORM funnel_rebuild_day_links();
  PERFORM funnel_rebuild_converter_links();
  PERFORM funnel_rebuild_segment_links();
END;
$$;
--> statement-breakpoint
SELECT funnel_rebuild_refunds();
--> statement-breakpoint
SELECT funnel_rebuild_conversions_daily();
