CREATE TABLE "agg_converters" (
	"account_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"visitor_id" uuid NOT NULL,
	"first_conversion_at" timestamp with time zone NOT NULL,
	"last_conversion_at" timestamp with time zone NOT NULL,
	CONSTRAINT "agg_converters_pk" PRIMARY KEY("funnel_id","visitor_id")
);
--> statement-breakpoint
CREATE INDEX "idx_agg_conversions_visitor" ON "agg_conversions" USING btree ("funnel_id","visitor_id","at");
