DROP INDEX "idx_agg_converting_sessions_last";--> statement-breakpoint
CREATE INDEX "idx_agg_converting_sessions_last" ON "agg_converting_sessions" USING btree ("funnel_id","last_at","first_at");