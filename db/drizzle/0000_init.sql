CREATE TABLE "ab_test_variants" (
	"id" uuid PRIMARY KEY NOT NULL,
	"test_id" uuid NOT NULL,
	"variant_name" varchar(100) NOT NULL,
	"is_control" boolean DEFAULT false NOT NULL,
	"page_id" uuid,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"traffic_split" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ab_tests" (
	"id" uuid PRIMARY KEY NOT NULL,
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"test_name" varchar(255) NOT NULL,
	"status" varchar(20) DEFAULT 'running' NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	"winner_variant_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "accounts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"notification_email" text,
	"store_full_ip" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"account_id" uuid NOT NULL,
	"key_hash" text NOT NULL,
	"prefix" text NOT NULL,
	"name" text,
	"notification_email" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "agg_funnel_visitors" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"visitor_id" uuid NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	CONSTRAINT "agg_funnel_visitors_funnel_id_visitor_id_pk" PRIMARY KEY("funnel_id","visitor_id")
);
--> statement-breakpoint
CREATE TABLE "agg_hourly_event_counts" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"event_type" text NOT NULL,
	"step_id" uuid NOT NULL,
	"conversion_type" text NOT NULL,
	"exit_outcome" text NOT NULL,
	"events" bigint NOT NULL,
	"value_cents" bigint NOT NULL,
	CONSTRAINT "agg_hourly_event_counts_pk" PRIMARY KEY("funnel_id","bucket","event_type","step_id","conversion_type","exit_outcome")
);
--> statement-breakpoint
CREATE TABLE "agg_hourly_step_visitors" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"step_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"visitor_id" uuid NOT NULL,
	CONSTRAINT "agg_hourly_step_visitors_funnel_id_step_id_bucket_visitor_id_pk" PRIMARY KEY("funnel_id","step_id","bucket","visitor_id")
);
--> statement-breakpoint
CREATE TABLE "agg_hourly_visitors" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"visitor_id" uuid NOT NULL,
	"session_id" text NOT NULL,
	CONSTRAINT "agg_hourly_visitors_funnel_id_bucket_visitor_id_session_id_pk" PRIMARY KEY("funnel_id","bucket","visitor_id","session_id")
);
--> statement-breakpoint
CREATE TABLE "analytics_events" (
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
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "event_ids" (
	"account_id" uuid NOT NULL,
	"event_id" uuid NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "event_ids_account_id_event_id_pk" PRIMARY KEY("account_id","event_id")
);
--> statement-breakpoint
CREATE TABLE "rejected_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"account_id" uuid,
	"funnel_id" uuid,
	"reason" varchar(40) NOT NULL,
	"errors" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"payload" jsonb NOT NULL,
	"source" varchar(20) NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "funnel_steps" (
	"id" uuid PRIMARY KEY NOT NULL,
	"funnel_id" uuid NOT NULL,
	"name" text NOT NULL,
	"step_type" text NOT NULL,
	"position" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "funnels" (
	"id" uuid PRIMARY KEY NOT NULL,
	"account_id" uuid NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pages" (
	"id" uuid PRIMARY KEY NOT NULL,
	"funnel_id" uuid NOT NULL,
	"name" text NOT NULL,
	"url" text
);
--> statement-breakpoint
ALTER TABLE "ab_test_variants" ADD CONSTRAINT "ab_test_variants_test_id_ab_tests_id_fk" FOREIGN KEY ("test_id") REFERENCES "public"."ab_tests"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ab_test_variants" ADD CONSTRAINT "ab_test_variants_page_id_pages_id_fk" FOREIGN KEY ("page_id") REFERENCES "public"."pages"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ab_tests" ADD CONSTRAINT "ab_tests_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ab_tests" ADD CONSTRAINT "ab_tests_funnel_id_funnels_id_fk" FOREIGN KEY ("funnel_id") REFERENCES "public"."funnels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "funnel_steps" ADD CONSTRAINT "funnel_steps_funnel_id_funnels_id_fk" FOREIGN KEY ("funnel_id") REFERENCES "public"."funnels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "funnels" ADD CONSTRAINT "funnels_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pages" ADD CONSTRAINT "pages_funnel_id_funnels_id_fk" FOREIGN KEY ("funnel_id") REFERENCES "public"."funnels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "idx_ab_test_variants_test_id" ON "ab_test_variants" USING btree ("test_id");--> statement-breakpoint
CREATE INDEX "idx_ab_tests_account_id" ON "ab_tests" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "idx_ab_tests_funnel_id" ON "ab_tests" USING btree ("funnel_id");--> statement-breakpoint
CREATE INDEX "idx_api_keys_account_id" ON "api_keys" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "idx_agg_funnel_visitors_first_seen" ON "agg_funnel_visitors" USING btree ("funnel_id","first_seen_at");--> statement-breakpoint
CREATE INDEX "idx_analytics_events_account_funnel" ON "analytics_events" USING btree ("account_id","funnel_id","created_at");--> statement-breakpoint
CREATE INDEX "idx_analytics_events_visitor_id" ON "analytics_events" USING btree ("visitor_id");--> statement-breakpoint
CREATE INDEX "idx_analytics_events_session_id" ON "analytics_events" USING btree ("session_id");--> statement-breakpoint
CREATE INDEX "idx_analytics_events_created_at" ON "analytics_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "idx_analytics_events_type" ON "analytics_events" USING btree ("event_type");--> statement-breakpoint
CREATE INDEX "idx_event_ids_created_at" ON "event_ids" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "idx_rejected_events_received_at" ON "rejected_events" USING btree ("received_at");--> statement-breakpoint
CREATE INDEX "idx_rejected_events_funnel" ON "rejected_events" USING btree ("funnel_id");--> statement-breakpoint
CREATE INDEX "idx_funnel_steps_funnel_id" ON "funnel_steps" USING btree ("funnel_id","position");--> statement-breakpoint
CREATE INDEX "idx_funnels_account_id" ON "funnels" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "idx_pages_funnel_id" ON "pages" USING btree ("funnel_id");