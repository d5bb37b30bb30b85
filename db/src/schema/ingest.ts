import { json, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * The embedded default's ingest queue, kept where its events are going: each job the in-process
 * queue accepted (the API answered 202 only after its row was inserted) until its events are
 * written, so a crash or kill of the process loses none; at start the rows left are queued again.
 * Replaying a job that was partly written is harmless: the writer stores each event id once and
 * each refused item once per job id.
 *
 * Created by the migrations everywhere, and empty on TimescaleDB/PostgreSQL, where the queue is
 * BullMQ on Redis: one migration path for both stores, as for every other table, rather than a
 * schema that differs by store.
 */
export const ingestAcceptedBatches = pgTable("ingest_accepted_batches", {
  /** The job id: the same when the job runs again after a restart (the writer's batch id). */
  id: uuid("id").primaryKey(),
  /** When the job was queued: stamps its refused events, on every run alike. */
  queuedAt: timestamp("queued_at", { withTimezone: true }).notNull(),
  /** The job's IngestBatch as JSON (json, not jsonb: stored as sent, read back whole, never queried into). */
  batch: json("batch").notNull(),
  /** Set when the job failed for good (bad input, or out of retries): kept for an operator, not run again. */
  failedAt: timestamp("failed_at", { withTimezone: true }),
  error: text("error"),
});
