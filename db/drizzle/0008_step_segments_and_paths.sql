CREATE TABLE "agg_step_paths_daily" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"step_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"kind" varchar(5) NOT NULL,
	"other_step_id" uuid NOT NULL,
	"exit_outcome" varchar(20) NOT NULL,
	"reason" varchar(100) NOT NULL,
	"events" bigint NOT NULL,
	CONSTRAINT "agg_step_paths_daily_pk" PRIMARY KEY("funnel_id","step_id","bucket","kind","other_step_id","exit_outcome","reason")
);
--> statement-breakpoint
CREATE TABLE "agg_step_segments_daily" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"step_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"dimension" varchar(10) NOT NULL,
	"value" text NOT NULL,
	"visits" bigint NOT NULL,
	"drops" bigint NOT NULL,
	CONSTRAINT "agg_step_segments_daily_pk" PRIMARY KEY("funnel_id","step_id","bucket","dimension","value")
);
--> statement-breakpoint
ALTER TABLE "agg_step_visits" ADD COLUMN "source" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "agg_step_visits" ADD COLUMN "device_type" varchar(10) DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "agg_step_visits" ADD COLUMN "browser" varchar(64) DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "agg_step_visits" ALTER COLUMN "source" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "agg_step_visits" ALTER COLUMN "device_type" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "agg_step_visits" ALTER COLUMN "browser" DROP DEFAULT;
