-- The step route reads a step's visits of a period for its distinct visitors per source, device and
-- browser, and its median time: with these columns in the index it reads the index alone (an
-- index-only scan, where the visibility map allows) instead of a heap page per few visits. The
-- Drizzle schema declares the index without them (it cannot express INCLUDE).
DROP INDEX IF EXISTS "idx_agg_step_visits_step_entry";
--> statement-breakpoint
CREATE INDEX "idx_agg_step_visits_step_entry" ON "agg_step_visits" USING btree ("funnel_id", "step_id", "entry_at")
  INCLUDE ("visitor_id", "source", "device_type", "browser", "duration_ms", "exit_at");
