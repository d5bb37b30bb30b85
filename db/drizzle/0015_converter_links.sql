-- Day links of converters per conversion type (kinds 4 to 7: form_submit, purchase, signup,
-- custom) and per step of their conversions (kind 8), as the ingest worker keeps them
-- (db/src/queries/day-links.ts): the conversions report's distinct converters by type and by step
-- over whole days are then sums over link rows, like the other kinds.
CREATE OR REPLACE FUNCTION funnel_rebuild_converter_links() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  DELETE FROM agg_day_links WHERE kind BETWEEN 4 AND 8;
  DELETE FROM agg_active_days WHERE kind BETWEEN 4 AND 8;

  INSERT INTO agg_active_days (account_id, funnel_id, unit, kind, step_id, bucket)
  SELECT DISTINCT account_id, funnel_id, visitor_id::text,
    (CASE conversion_type WHEN 'form_submit' THEN 4 WHEN 'purchase' THEN 5 WHEN 'signup' THEN 6 ELSE 7 END)::smallint,
    '00000000-0000-0000-0000-000000000000'::uuid,
    date_bin('1 day', at, timestamptz '1970-01-01 00:00:00+00')
  FROM agg_conversions
  WHERE kind = 'conversion' AND conversion_type IN ('form_submit', 'purchase', 'signup', 'custom')
  UNION ALL
  SELECT DISTINCT account_id, funnel_id, visitor_id::text, 8::smallint, step_id,
    date_bin('1 day', at, timestamptz '1970-01-01 00:00:00+00')
  FROM agg_conversions
  WHERE kind = 'conversion' AND step_id IS NOT NULL;

  INSERT INTO agg_day_links (account_id, funnel_id, kind, step_id, bucket, prev_bucket, units)
  SELECT account_id, funnel_id, kind, step_id, bucket, prev_bucket, count(*)
  FROM (
    SELECT account_id, funnel_id, kind, step_id, bucket,
      coalesce(lag(bucket) OVER (PARTITION BY funnel_id, unit, kind, step_id ORDER BY bucket),
        '-infinity'::timestamptz) AS prev_bucket
    FROM agg_active_days
    WHERE kind BETWEEN 4 AND 8
  ) d
  GROUP BY account_id, funnel_id, kind, step_id, bucket, prev_bucket;
END;
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION funnel_rebuild_rollups() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM funnel_rebuild_base_rollups();
  PERFORM funnel_rebuild_conversions_daily();
  PERFORM funnel_rebuild_converting_sessions();
  PERFORM funnel_rebuild_day_links();
  PERFORM funnel_rebuild_converter_links();
END;
$$;
--> statement-breakpoint
SELECT funnel_rebuild_converter_links();
