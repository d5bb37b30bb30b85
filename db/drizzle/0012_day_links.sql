CREATE TABLE "agg_active_days" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"unit" text NOT NULL,
	"kind" smallint NOT NULL,
	"step_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	CONSTRAINT "agg_active_days_pk" PRIMARY KEY("funnel_id","unit","kind","step_id","bucket")
);
--> statement-breakpoint
CREATE TABLE "agg_day_links" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"kind" smallint NOT NULL,
	"step_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"prev_bucket" timestamp with time zone NOT NULL,
	"units" bigint NOT NULL,
	CONSTRAINT "agg_day_links_pk" PRIMARY KEY("funnel_id","kind","step_id","bucket","prev_bucket")
);
--> statement-breakpoint
CREATE TABLE "agg_step_converted" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"visitor_id" uuid NOT NULL,
	"step_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"next_bucket" timestamp with time zone NOT NULL,
	"entry_bucket" timestamp with time zone NOT NULL,
	CONSTRAINT "agg_step_converted_pk" PRIMARY KEY("funnel_id","visitor_id","step_id","bucket")
);
--> statement-breakpoint
CREATE TABLE "agg_step_converted_days" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"step_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"next_bucket" timestamp with time zone NOT NULL,
	"entry_bucket" timestamp with time zone NOT NULL,
	"visitors" bigint NOT NULL,
	CONSTRAINT "agg_step_converted_days_pk" PRIMARY KEY("funnel_id","step_id","bucket","next_bucket","entry_bucket")
);
--> statement-breakpoint
-- Days seen and their links, and the step visitors' conversion days, are derived from the daily
-- session and step buckets, the conversions and the step visits, which funnel_rebuild_rollups() of
-- migration 0011 rebuilds from the stored events; from here on funnel_rebuild_rollups() does both,
-- in that order.
CREATE OR REPLACE FUNCTION funnel_rebuild_day_links() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  TRUNCATE agg_active_days, agg_day_links, agg_step_converted, agg_step_converted_days;

  INSERT INTO agg_active_days (account_id, funnel_id, unit, kind, step_id, bucket)
  SELECT DISTINCT account_id, funnel_id, visitor_id::text, 0::smallint,
    '00000000-0000-0000-0000-000000000000'::uuid, bucket
  FROM agg_session_buckets_daily
  UNION ALL
  SELECT DISTINCT account_id, funnel_id, session_id, 1::smallint,
    '00000000-0000-0000-0000-000000000000'::uuid, bucket
  FROM agg_session_buckets_daily
  UNION ALL
  SELECT DISTINCT account_id, funnel_id, visitor_id::text, 2::smallint, step_id, bucket
  FROM agg_step_buckets_daily
  UNION ALL
  SELECT DISTINCT account_id, funnel_id, visitor_id::text, 3::smallint,
    '00000000-0000-0000-0000-000000000000'::uuid,
    date_bin('1 day', at, timestamptz '1970-01-01 00:00:00+00')
  FROM agg_conversions
  WHERE kind = 'conversion';

  INSERT INTO agg_day_links (account_id, funnel_id, kind, step_id, bucket, prev_bucket, units)
  SELECT account_id, funnel_id, kind, step_id, bucket, prev_bucket, count(*)
  FROM (
    SELECT account_id, funnel_id, kind, step_id, bucket,
      coalesce(lag(bucket) OVER (PARTITION BY funnel_id, unit, kind, step_id ORDER BY bucket),
        '-infinity'::timestamptz) AS prev_bucket
    FROM agg_active_days
  ) d
  GROUP BY account_id, funnel_id, kind, step_id, bucket, prev_bucket;

  INSERT INTO agg_step_converted (account_id, funnel_id, visitor_id, step_id, bucket, next_bucket, entry_bucket)
  SELECT c.account_id, c.funnel_id, c.visitor_id, s.step_id, c.day, c.next_day,
    date_bin('1 day', max(s.entry_at), timestamptz '1970-01-01 00:00:00+00')
  FROM (
    SELECT account_id, funnel_id, visitor_id, day, last_at,
      coalesce(lead(day) OVER (PARTITION BY funnel_id, visitor_id ORDER BY day), 'infinity'::timestamptz) AS next_day
    FROM (
      SELECT account_id, funnel_id, visitor_id, date_bin('1 day', at, timestamptz '1970-01-01 00:00:00+00') AS day,
        max(at) AS last_at
      FROM agg_conversions
      WHERE kind = 'conversion'
      GROUP BY account_id, funnel_id, visitor_id, day
    ) d
  ) c
  JOIN agg_step_visits s ON s.funnel_id = c.funnel_id AND s.visitor_id = c.visitor_id AND s.entry_at <= c.last_at
  GROUP BY c.account_id, c.funnel_id, c.visitor_id, s.step_id, c.day, c.next_day;

  INSERT INTO agg_step_converted_days (account_id, funnel_id, step_id, bucket, next_bucket, entry_bucket, visitors)
  SELECT account_id, funnel_id, step_id, bucket, next_bucket, entry_bucket, count(*)
  FROM agg_step_converted
  GROUP BY account_id, funnel_id, step_id, bucket, next_bucket, entry_bucket;
END;
$$;
--> statement-breakpoint
ALTER FUNCTION funnel_rebuild_rollups() RENAME TO funnel_rebuild_base_rollups;
--> statement-breakpoint
CREATE FUNCTION funnel_rebuild_rollups() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM funnel_rebuild_base_rollups();
  PERFORM funnel_rebuild_day_links();
END;
$$;
--> statement-breakpoint
SELECT funnel_rebuild_day_links();
