CREATE TABLE "consent_withdrawals" (
	"account_id" uuid NOT NULL,
	"visitor_hash" text NOT NULL,
	"withdrawn_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "consent_withdrawals_account_id_visitor_hash_pk" PRIMARY KEY("account_id","visitor_hash")
);
--> statement-breakpoint
ALTER TABLE "consent_withdrawals" ADD CONSTRAINT "consent_withdrawals_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "idx_rejected_events_visitor" ON "rejected_events" USING btree ("account_id",lower("payload" ->> 'visitor_id'));