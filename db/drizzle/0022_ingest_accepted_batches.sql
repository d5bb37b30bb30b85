CREATE TABLE "ingest_accepted_batches" (
	"id" uuid PRIMARY KEY NOT NULL,
	"queued_at" timestamp with time zone NOT NULL,
	"batch" json NOT NULL,
	"failed_at" timestamp with time zone,
	"error" text
);
