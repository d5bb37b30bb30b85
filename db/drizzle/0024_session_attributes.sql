CREATE TABLE "agg_bot_sessions" (
	"account_id" uuid NOT NULL,
	"session_id" text NOT NULL,
	"seen_at" timestamp with time zone NOT NULL,
	CONSTRAINT "agg_bot_sessions_pk" PRIMARY KEY("account_id","session_id")
);
--> statement-breakpoint
ALTER TABLE "agg_sessions" ADD COLUMN "agent_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "agg_sessions" ADD COLUMN "agent_event_id" uuid;
--> statement-breakpoint
-- funnel_rebuild_base_rollups() of migrations 0011/0012 with the session attributes of
-- docs/metrics.md: sessions that had any bot event left out whole (agg_bot_sessions), and each
-- session's device and browser taken from its first event that carried a user agent (agent_at),
-- `unknown` when none did. The deriver applies the same rules batch by batch (rollups.ts).
-- Without the rollups defined once in db/src/rollups/registry.ts (those of counted events alone,
-- and the daily sums of step visits and conversions), which keeps them up batch by batch and
-- rebuilds them (rebuildRollups, db/src/rollups/run.ts, around funnel_rebuild_rollups()).
CREATE OR REPLACE FUNCTION funnel_rebuild_base_rollups() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  TRUNCATE agg_sessions, agg_step_events, agg_step_visits, agg_conversions, agg_products_daily, agg_bot_sessions;

  -- A session with any event from a known bot counts nowhere, whichever event came first.
  INSERT INTO agg_bot_sessions
  SELECT account_id, session_id, min(created_at) FROM analytics_events WHERE is_bot GROUP BY 1, 2;

  -- Migrations run in one transaction: an earlier call's table is still there until it commits.
  DROP TABLE IF EXISTS rollup_source;
  CREATE TEMPORARY TABLE rollup_source ON COMMIT DROP AS
  SELECT e.*
  FROM analytics_events e
  WHERE NOT EXISTS (SELECT 1 FROM agg_bot_sessions b WHERE b.account_id = e.account_id AND b.session_id = e.session_id);

  -- Device and browser from the first event that carried a user agent; `unknown` when none did.
  INSERT INTO agg_sessions (account_id, funnel_id, session_id, visitor_id, first_at, first_event_id,
    device_type, browser, agent_at, agent_event_id, utm_at, utm_event_id, utm_source, referrer_at,
    referrer_event_id, referrer_host)
  SELECT f.account_id, f.funnel_id, f.session_id, f.visitor_id, f.created_at, f.event_id,
    coalesce(a.device_type, 'unknown'), CASE WHEN a.event_id IS NULL THEN 'unknown' ELSE coalesce(a.browser, 'Other') END,
    a.created_at, a.event_id, u.created_at, u.event_id, u.utm_source, r.created_at, r.event_id, r.host
  FROM (
    SELECT DISTINCT ON (funnel_id, session_id, visitor_id) *
    FROM rollup_source
    ORDER BY funnel_id, session_id, visitor_id, created_at, event_id
  ) f
  LEFT JOIN (
    SELECT DISTINCT ON (funnel_id, session_id, visitor_id) funnel_id, session_id, visitor_id, created_at, event_id,
      device_type, browser
    FROM rollup_source
    WHERE device_type IS NOT NULL
    ORDER BY funnel_id, session_id, visitor_id, created_at, event_id
  ) a USING (funnel_id, session_id, visitor_id)
  LEFT JOIN (
    SELECT DISTINCT ON (funnel_id, session_id, visitor_id) funnel_id, session_id, visitor_id, created_at, event_id, utm_source
    FROM rollup_source
    WHERE utm_source <> ''
    ORDER BY funnel_id, session_id, visitor_id, created_at, event_id
  ) u USING (funnel_id, session_id, visitor_id)
  LEFT JOIN (
    SELECT DISTINCT ON (funnel_id, session_id, visitor_id) funnel_id, session_id, visitor_id, created_at, event_id, host
    FROM (
      SELECT *, left(regexp_replace(lower(substring(referrer FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)')), '^www\.', ''), 255) AS host
      FROM rollup_source
      WHERE referrer IS NOT NULL
    ) h
    WHERE host <> ''
    ORDER BY funnel_id, session_id, visitor_id, created_at, event_id
  ) r USING (funnel_id, session_id, visitor_id);

  INSERT INTO agg_step_events
  SELECT account_id, funnel_id, session_id, visitor_id, funnel_step_id, event_id, created_at,
    CASE event_type WHEN 'step_entry' THEN 'entry' ELSE 'exit' END,
    previous_step_id, next_step_id, exit_outcome,
    CASE WHEN jsonb_typeof(metadata -> 'reason') = 'string' AND metadata ->> 'reason' <> ''
      THEN left(metadata ->> 'reason', 100) END
  FROM rollup_source
  WHERE event_type IN ('step_entry', 'step_exit') AND funnel_step_id IS NOT NULL;

  INSERT INTO agg_step_visits
  SELECT ordered.account_id, funnel_id, session_id, visitor_id, step_id, event_id, at,
    CASE WHEN next_kind = 'exit' THEN next_at END,
    CASE WHEN next_kind = 'exit' THEN next_outcome END,
    CASE WHEN next_kind = 'exit'
      THEN round(extract(epoch FROM next_at - at) * 1000)::bigint END,
    coalesce(ss.utm_source, ss.referrer_host, 'direct'), ss.device_type, ss.browser
  FROM (
    SELECT s.*,
      lead(kind) OVER w AS next_kind, lead(at) OVER w AS next_at, lead(exit_outcome) OVER w AS next_outcome
    FROM agg_step_events s
    WINDOW w AS (PARTITION BY funnel_id, session_id, step_id ORDER BY at, kind, event_id)
  ) ordered
  JOIN agg_sessions ss USING (funnel_id, session_id, visitor_id)
  WHERE kind = 'entry';

  INSERT INTO agg_conversions
  SELECT c.account_id, c.funnel_id, c.event_id, c.session_id, c.visitor_id, c.created_at,
    c.event_type, c.conversion_type, c.value_cents, c.order_id,
    CASE WHEN c.event_type = 'conversion' AND c.value_cents > 0 AND jsonb_typeof(c.metadata -> 'products') = 'array'
      THEN c.metadata -> 'products' END,
    CASE WHEN c.event_type = 'conversion' THEN (
      SELECT s.step_id FROM agg_step_events s
      WHERE s.funnel_id = c.funnel_id AND s.session_id = c.session_id AND s.kind = 'entry' AND s.at <= c.created_at
      ORDER BY s.at DESC, s.event_id DESC
      LIMIT 1
    ) END
  FROM rollup_source c
  WHERE c.event_type IN ('conversion', 'refund');

  INSERT INTO agg_products_daily
  SELECT min(account_id::text)::uuid, funnel_id, bucket, id, sum(q * price), sum(q),
    (array_agg(name ORDER BY at DESC, event_id DESC) FILTER (WHERE name IS NOT NULL))[1],
    (array_agg(at ORDER BY at DESC, event_id DESC) FILTER (WHERE name IS NOT NULL))[1],
    (array_agg(event_id ORDER BY at DESC, event_id DESC) FILTER (WHERE name IS NOT NULL))[1]
  FROM (
    SELECT c.account_id, c.funnel_id, date_bin('1 day', c.at, timestamptz '1970-01-01 00:00:00+00') AS bucket,
      c.at, c.event_id, p ->> 'product_id' AS id,
      CASE WHEN jsonb_typeof(p -> 'product_name') = 'string' THEN p ->> 'product_name' END AS name,
      (p ->> 'quantity')::numeric AS q, (p ->> 'price_cents')::numeric AS price
    FROM agg_conversions c
    CROSS JOIN LATERAL jsonb_array_elements(c.products) AS p
    WHERE c.kind = 'conversion' AND c.value_cents > 0 AND jsonb_typeof(c.products) = 'array'
      AND jsonb_typeof(p) = 'object' AND jsonb_typeof(p -> 'product_id') = 'string'
      AND jsonb_typeof(p -> 'quantity') = 'number' AND jsonb_typeof(p -> 'price_cents') = 'number'
  ) items
  GROUP BY funnel_id, bucket, id;
END;
$$;
--> statement-breakpoint
-- funnel_rebuild_conversions_daily() of migration 0021 without agg_conversions_daily (registry.ts):
-- each conversion's source, from its session.
CREATE OR REPLACE FUNCTION funnel_rebuild_conversion_sources() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  UPDATE agg_conversions c
  SET source = CASE WHEN c.kind = 'conversion' THEN coalesce((
    SELECT coalesce(s.utm_source, s.referrer_host) FROM agg_sessions s
    WHERE s.funnel_id = c.funnel_id AND s.session_id = c.session_id AND s.visitor_id = c.visitor_id
  ), 'direct') END
  WHERE c.source IS DISTINCT FROM CASE WHEN c.kind = 'conversion' THEN coalesce((
    SELECT coalesce(s.utm_source, s.referrer_host) FROM agg_sessions s
    WHERE s.funnel_id = c.funnel_id AND s.session_id = c.session_id AND s.visitor_id = c.visitor_id
  ), 'direct') END;
END;
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION funnel_rebuild_rollups() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM funnel_rebuild_base_rollups();
  PERFORM funnel_rebuild_refunds();
  PERFORM funnel_rebuild_conversion_sources();
  PERFORM funnel_rebuild_converting_sessions();
  PERFORM funnel_rebuild_day_links();
  PERFORM funnel_rebuild_converter_links();
  PERFORM funnel_rebuild_segment_links();
END;
$$;
--> statement-breakpoint
DROP FUNCTION funnel_rebuild_conversions_daily();
