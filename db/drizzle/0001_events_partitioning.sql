-- analytics_events becomes time-partitioned on created_at (the event time), so that reports scan
-- only the months they ask for and retention drops whole chunks or partitions.
--
-- One migration path for every database:
--   * TimescaleDB available (and the database setting funnel.timescaledb is not 'off'):
--     a hypertable with 7-day chunks, created on demand by TimescaleDB.
--   * Otherwise (plain PostgreSQL, PGlite): native monthly range partitions, created ahead of
--     time by funnel_ensure_partitions(), which the app also calls on a schedule.

-- Creates the missing monthly partitions from `months_back` months before `at` to `months_ahead`
-- months after it (UTC months) and returns how many it created. A no-op for a hypertable.
CREATE OR REPLACE FUNCTION funnel_ensure_partitions(
  months_back integer,
  months_ahead integer,
  at timestamptz DEFAULT now()
) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
  parent regclass := to_regclass('analytics_events');
  parent_schema name;
  first_month timestamp;
  month_start timestamp;
  partition_name text;
  created integer := 0;
BEGIN
  IF parent IS NULL THEN
    RAISE EXCEPTION 'funnel_ensure_partitions: table analytics_events does not exist';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = parent) THEN
    RETURN 0;
  END IF;
  -- Two schedulers running at once must not both try to create the same partition.
  PERFORM pg_advisory_xact_lock(hashtext('funnel_ensure_partitions'));

  SELECT n.nspname INTO parent_schema
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.oid = parent;

  first_month := date_trunc('month', at AT TIME ZONE 'UTC') - make_interval(months => months_back);
  FOR i IN 0 .. months_back + months_ahead LOOP
    month_start := first_month + make_interval(months => i);
    partition_name := 'analytics_events_' || to_char(month_start, 'YYYY_MM');
    IF to_regclass(format('%I.%I', parent_schema, partition_name)) IS NULL THEN
      EXECUTE format(
        'CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
        parent_schema,
        partition_name,
        parent,
        month_start AT TIME ZONE 'UTC',
        (month_start + interval '1 month') AT TIME ZONE 'UTC'
      );
      created := created + 1;
    END IF;
  END LOOP;
  RETURN created;
END;
$$;
--> statement-breakpoint
DO $$
DECLARE
  use_timescaledb boolean :=
    coalesce(current_setting('funnel.timescaledb', true), '') <> 'off'
    AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb');
BEGIN
  IF EXISTS (SELECT 1 FROM analytics_events) THEN
    RAISE EXCEPTION 'analytics_events must be empty before it is partitioned';
  END IF;

  IF use_timescaledb THEN
    BEGIN
      CREATE EXTENSION IF NOT EXISTS timescaledb;
    EXCEPTION WHEN OTHERS THEN
      -- Installed but unusable (typically not in shared_preload_libraries): say so, fall back.
      RAISE WARNING 'timescaledb is available but could not be created (%); using native partitions',
        SQLERRM;
      use_timescaledb := false;
    END;
  END IF;

  IF use_timescaledb THEN
    -- The schema already indexes created_at: no default index from TimescaleDB.
    PERFORM create_hypertable(
      'analytics_events',
      'created_at',
      chunk_time_interval => interval '7 days',
      create_default_indexes => false
    );
    RETURN;
  END IF;

  -- Native partitioning: a partitioned table cannot be made from an existing one, so the (empty)
  -- table is replaced by a partitioned copy with the same columns, defaults and index names.
  ALTER TABLE analytics_events RENAME TO analytics_events_unpartitioned;
  CREATE TABLE analytics_events (
    LIKE analytics_events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE
      INCLUDING COMMENTS
  ) PARTITION BY RANGE (created_at);
  DROP TABLE analytics_events_unpartitioned;

  CREATE INDEX idx_analytics_events_account_funnel
    ON analytics_events USING btree (account_id, funnel_id, created_at);
  CREATE INDEX idx_analytics_events_visitor_id ON analytics_events USING btree (visitor_id);
  CREATE INDEX idx_analytics_events_session_id ON analytics_events USING btree (session_id);
  CREATE INDEX idx_analytics_events_created_at ON analytics_events USING btree (created_at);
  CREATE INDEX idx_analytics_events_type ON analytics_events USING btree (event_type);

  -- 13 months of retention back, 3 months ahead; src/partitions.ts keeps extending it.
  PERFORM funnel_ensure_partitions(13, 3);
END;
$$;
