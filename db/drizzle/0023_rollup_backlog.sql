CREATE TABLE "rollup_backlog" (
	"seq" bigserial NOT NULL,
	"lane" smallint NOT NULL,
	"stored_at" timestamp with time zone DEFAULT now() NOT NULL,
	"failed_at" timestamp with time zone,
	"error" text,
	"event_id" uuid NOT NULL,
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"event_type" varchar(50) NOT NULL,
	"visitor_id" uuid NOT NULL,
	"session_id" varchar(100) NOT NULL,
	"page_id" uuid,
	"funnel_step_id" uuid,
	"previous_step_id" uuid,
	"conversion_type" varchar(50),
	"value_cents" integer,
	"conversion_goal_id" uuid,
	"order_id" varchar(100),
	"variant_id" uuid,
	"url" text,
	"user_agent" text,
	"ip_address" "inet",
	"referrer" text,
	"utm_source" varchar(255),
	"utm_medium" varchar(255),
	"utm_campaign" varchar(255),
	"exit_outcome" varchar(20),
	"next_step_id" uuid,
	"device_type" varchar(10),
	"browser" varchar(64),
	"os" varchar(64),
	"country" varchar(2),
	"is_bot" boolean DEFAULT false NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rollup_backlog_lane_seq_pk" PRIMARY KEY("lane","seq")
);
--> statement-breakpoint
CREATE TABLE "rollup_progress" (
	"account_id" uuid PRIMARY KEY NOT NULL,
	"stored_through" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "idx_rollup_backlog_account_stored" ON "rollup_backlog" USING btree ("account_id","stored_at") WHERE "rollup_backlog"."failed_at" is null;