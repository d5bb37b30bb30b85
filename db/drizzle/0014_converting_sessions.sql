CREATE TABLE "agg_converting_sessions" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"session_id" text NOT NULL,
	"visitor_id" uuid NOT NULL,
	"first_at" timestamp with time zone NOT NULL,
	"last_at" timestamp with time zone NOT NULL,
	"conversions" bigint NOT NULL,
	"value_cents" bigint NOT NULL,
	CONSTRAINT "agg_converting_sessions_pk" PRIMARY KEY("funnel_id","session_id","visitor_id")
);
--> statement-breakpoint
CREATE INDEX "idx_agg_converting_sessions_last" ON "agg_converting_sessions" USING btree ("funnel_id","last_at");--> statement-breakpoint
CREATE INDEX "idx_agg_converting_sessions_span" ON "agg_converting_sessions" USING gist (tstzrange("first_at", "last_at", '[]'));--> statement-breakpoint
-- agg_converting_sessions from agg_conversions, as the ingest worker keeps it
-- (db/src/queries/rollups.ts, insertConversions).
CREATE OR REPLACE FUNCTION funnel_rebuild_converting_sessions() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  TRUNCATE agg_converting_sessions;
  INSERT INTO agg_converting_sessions
  SELECT min(account_id::text)::uuid, funnel_id, session_id, visitor_id, min(at), max(at), count(*),
    coalesce(sum(value_cents), 0)
  FROM agg_conversions
  WHERE kind = 'conversion'
  GROUP BY funnel_id, session_id, visitor_id;
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
END;
$$;
--> statement-breakpoint
SELECT funnel_rebuild_converting_sessions();
