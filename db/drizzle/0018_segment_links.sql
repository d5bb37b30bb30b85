-- Day links of step visitors per segment (kind 9): the days each visitor entered a step in a
-- session of each source, device and browser, step_id being md5(step | dimension | value) as a
-- uuid (db/src/queries/day-links.ts, segmentKey), as the ingest worker keeps them: the step
-- report's distinct visitors per segment over whole days are then sums over link rows.
CREATE OR REPLACE FUNCTION funnel_rebuild_segment_links() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  DELETE FROM agg_day_links WHERE kind = 9;
  DELETE FROM agg_active_days WHERE kind = 9;

  INSERT INTO agg_active_days (account_id, funnel_id, unit, kind, step_id, bucket)
  SELECT DISTINCT s.account_id, s.funnel_id, s.visitor_id::text, 9::smallint,
    md5(s.step_id::text || '|' || d.dimension || '|' || d.value)::uuid,
    date_bin('1 day', s.entry_at, timestamptz '1970-01-01 00:00:00+00')
  FROM agg_step_visits s
  CROSS JOIN LATERAL (VALUES ('source', s.source), ('device', s.device_type::text), ('browser', s.browser::text))
    AS d(dimension, value);

  INSERT INTO agg_day_links (account_id, funnel_id, kind, step_id, bucket, prev_bucket, units)
  SELECT account_id, funnel_id, kind, step_id, bucket, prev_bucket, count(*)
  FROM (
    SELECT account_id, funnel_id, kind, step_id, bucket,
      coalesce(lag(bucket) OVER (PARTITION BY funnel_id, unit, kind, step_id ORDER BY bucket),
        '-infinity'::timestamptz) AS prev_bucket
    FROM agg_active_days
    WHERE kind = 9
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
  PERFORM funnel_rebuild_segment_links();
END;
$$;
--> statement-breakpoint
SELECT funnel_rebuild_segment_links();
