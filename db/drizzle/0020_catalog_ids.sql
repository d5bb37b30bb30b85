CREATE TABLE "catalog_ids" (
	"kind" text NOT NULL,
	"id" uuid NOT NULL,
	"account_id" uuid NOT NULL,
	"first_used_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "catalog_ids_kind_id_pk" PRIMARY KEY("kind","id"),
	CONSTRAINT "catalog_ids_kind" CHECK ("catalog_ids"."kind" in ('funnel', 'step', 'page', 'ab_test', 'variant'))
);
--> statement-breakpoint
-- The ids of today's catalog, each with its account (steps and pages through their funnel,
-- variants through their test).
INSERT INTO "catalog_ids" ("kind", "id", "account_id")
SELECT 'funnel', "id", "account_id" FROM "funnels"
UNION ALL
SELECT 'step', s."id", f."account_id" FROM "funnel_steps" s JOIN "funnels" f ON f."id" = s."funnel_id"
UNION ALL
SELECT 'page', p."id", f."account_id" FROM "pages" p JOIN "funnels" f ON f."id" = p."funnel_id"
UNION ALL
SELECT 'ab_test', "id", "account_id" FROM "ab_tests"
UNION ALL
SELECT 'variant', v."id", t."account_id" FROM "ab_test_variants" v JOIN "ab_tests" t ON t."id" = v."test_id";
--> statement-breakpoint
-- Funnels deleted before this migration still have events, stored under the account the writer
-- found in the catalog: each such id goes to the account that stored events for it first (by the
-- server's receive time, which a client cannot set). An id in the catalog today keeps its current
-- owner. Step, page and variant ids of events are not checked against the catalog when written,
-- so they bind nothing.
INSERT INTO "catalog_ids" ("kind", "id", "account_id")
SELECT DISTINCT ON ("funnel_id") 'funnel', "funnel_id", "account_id"
FROM (
  SELECT "funnel_id", "account_id", min("received_at") AS "first_received_at"
  FROM "analytics_events"
  GROUP BY "funnel_id", "account_id"
) AS "used"
ORDER BY "funnel_id", "first_received_at", "account_id"
ON CONFLICT DO NOTHING;
