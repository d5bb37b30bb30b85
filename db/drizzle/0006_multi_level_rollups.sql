CREATE TABLE "agg_event_counts_daily" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"event_type" text NOT NULL,
	"step_id" uuid NOT NULL,
	"conversion_type" text NOT NULL,
	"exit_outcome" text NOT NULL,
	"events" bigint NOT NULL,
	"value_cents" bigint NOT NULL,
	CONSTRAINT "agg_event_counts_daily_pk" PRIMARY KEY("funnel_id","bucket","event_type","step_id","conversion_type","exit_outcome")
);
--> statement-breakpoint
CREATE TABLE "agg_session_buckets_daily" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"visitor_id" uuid NOT NULL,
	"session_id" text NOT NULL,
	CONSTRAINT "agg_session_buckets_daily_pk" PRIMARY KEY("funnel_id","bucket","visitor_id","session_id")
);
--> statement-breakpoint
CREATE TABLE "agg_step_buckets_daily" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"step_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"visitor_id" uuid NOT NULL,
	"session_id" text NOT NULL,
	"first_entry_at" timestamp with time zone NOT NULL,
	CONSTRAINT "agg_step_buckets_daily_pk" PRIMARY KEY("funnel_id","step_id","bucket","visitor_id","session_id")
);
--> statement-breakpoint
CREATE TABLE "agg_step_times_daily" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"step_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"visits" bigint NOT NULL,
	"total_ms" bigint NOT NULL,
	CONSTRAINT "agg_step_times_daily_pk" PRIMARY KEY("funnel_id","step_id","bucket")
);
--> statement-breakpoint
CREATE TABLE "agg_event_counts_hourly" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"event_type" text NOT NULL,
	"step_id" uuid NOT NULL,
	"conversion_type" text NOT NULL,
	"exit_outcome" text NOT NULL,
	"events" bigint NOT NULL,
	"value_cents" bigint NOT NULL,
	CONSTRAINT "agg_event_counts_hourly_pk" PRIMARY KEY("funnel_id","bucket","event_type","step_id","conversion_type","exit_outcome")
);
