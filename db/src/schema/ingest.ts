import { sql } from "drizzle-orm";
import {
  bigserial,
  index,
  json,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";
import { eventColumns } from "./events";

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

/**
 * Stored events whose rollups are not derived yet. The ingest writer adds each new event here in
 * the transaction that stores it, and does no rollup work; the worker's deriver (queries/derive.ts)
 * takes rows in `seq` order per lane, derives their rollups and deletes them in one transaction, so
 * every stored event is counted once in every rollup. A visitor's events always fall in one lane
 * (a hash of funnel and visitor), so lanes derive side by side without sharing a visitor's rows.
 */
export const rollupBacklog = pgTable(
  "rollup_backlog",
  {
    seq: bigserial("seq", { mode: "number" }).notNull(),
    lane: smallint("lane").notNull(),
    /** When the writer's transaction began: every event committed before the oldest waiting row's time is derived. */
    storedAt: timestamp("stored_at", { withTimezone: true }).notNull().defaultNow(),
    /** Set when deriving this row alone failed: kept for an operator, skipped from then on. */
    failedAt: timestamp("failed_at", { withTimezone: true }),
    error: text("error"),
    ...eventColumns(),
  },
  (t) => [
    primaryKey({ columns: [t.lane, t.seq] }),
    // How fresh an account's reports are: its oldest waiting row.
    index("idx_rollup_backlog_account_stored").on(t.accountId, t.storedAt).where(sql`${t.failedAt} is null`),
  ],
);

/**
 * Per account, the store time of the newest event the deriver has derived. With nothing of the
 * account waiting in the backlog, every event of it stored before this time is in the rollups: the
 * reports' `data_through` (queries/derive.ts), the same on every request until new events come.
 */
export const rollupProgress = pgTable("rollup_progress", {
  accountId: uuid("account_id").primaryKey(),
  storedThrough: timestamp("stored_through", { withTimezone: true }).notNull(),
});
