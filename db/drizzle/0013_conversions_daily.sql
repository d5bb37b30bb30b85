CREATE TABLE "agg_conversions_daily" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"kind" varchar(10) NOT NULL,
	"conversion_type" text NOT NULL,
	"step_id" uuid NOT NULL,
	"source" text NOT NULL,
	"conversions" bigint NOT NULL,
	"value_cents" bigint NOT NULL,
	"valued" bigint NOT NULL,
	"orders" bigint NOT NULL,
	"order_cents" bigint NOT NULL,
	CONSTRAINT "agg_conversions_daily_pk" PRIMARY KEY("funnel_id","bucket","kind","conversion_type","step_id","source")
);
--> statement-breakpoint
ALTER TABLE "agg_conversions" ADD COLUMN "source" text;--> statement-breakpoint
-- Sources of conversions and agg_conversions_daily from agg_conversions and agg_sessions, by the
-- rules the ingest worker applies (db/src/queries/rollups.ts, attributeConversions): a conversion's
-- source is its session's utm source, else referrer host, else 'direct'.
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
  GROUP BY 1, 2, 3, 4, 5, 6, 7;
END;
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION funnel_rebuild_rollups() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM funnel_rebuild_base_rollups();
  PERFORM funnel_rebuild_conversions_daily();
  PERFORM funnel_rebuild_day_links();
END;
$$;
--> statement-breakpoint
SELECT funnel_rebuild_conversions_daily();
