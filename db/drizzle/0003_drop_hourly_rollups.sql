DROP TABLE "agg_hourly_event_counts" CASCADE;--> statement-breakpoint
DROP TABLE "agg_hourly_step_visitors" CASCADE;--> statement-breakpoint
DROP TABLE "agg_hourly_visitors" CASCADE;