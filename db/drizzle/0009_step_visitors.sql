CREATE TABLE "agg_step_visitors" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"step_id" uuid NOT NULL,
	"visitor_id" uuid NOT NULL,
	"first_entry_at" timestamp with time zone NOT NULL,
	"last_entry_at" timestamp with time zone NOT NULL,
	CONSTRAINT "agg_step_visitors_pk" PRIMARY KEY("funnel_id","step_id","visitor_id")
);
--> statement-breakpoint
DROP INDEX "idx_agg_conversions_at";--> statement-breakpoint
CREATE INDEX "idx_agg_conversions_kind_at" ON "agg_conversions" USING btree ("funnel_id","kind","at");--> statement-breakpoint
CREATE INDEX "idx_agg_step_visits_visitor" ON "agg_step_visits" USING btree ("funnel_id","visitor_id","step_id","entry_at");
