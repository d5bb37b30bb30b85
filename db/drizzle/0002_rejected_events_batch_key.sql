ALTER TABLE "rejected_events" ADD COLUMN "batch_id" uuid;--> statement-breakpoint
ALTER TABLE "rejected_events" ADD COLUMN "item_key" text;--> statement-breakpoint
CREATE UNIQUE INDEX "idx_rejected_events_batch_item" ON "rejected_events" USING btree ("batch_id","item_key");