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
CREATE INDEX "idx_agg_step_visits_visitor" ON "agg_step_visits" USING btree ("funnel_id","visitor_id","step_id","entry_at");--> statement-breakpoint
-- Filled from the step visits (one per stored step entry) rather than by a full rebuild.
INSERT INTO agg_step_visitors
SELECT min(account_id::text)::uuid, funnel_id, step_id, visitor_id, min(entry_at), max(entry_at)
FROM agg_step_visits
GROUP BY funnel_id, step_id, visitor_id;
