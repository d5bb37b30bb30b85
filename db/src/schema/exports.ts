import { sql } from "drizzle-orm";
import { index, integer, jsonb, pgTable, real, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { accounts, apiKeys } from "./accounts";

/** The report request an export renders, as the client sent it (REQ-FUN-004-12). */
export interface ExportParams {
  date_from: string;
  date_to: string;
  tz?: string | undefined;
  granularity?: "hour" | "day" | "week" | undefined;
  include_charts: boolean;
}

/**
 * Export jobs (REQ-FUN-004-12). The row is the job's state for the API: it outlives a restart of
 * either the API or the queue, and the queue's job id is the row's id. The file itself lives in
 * EXPORT_DIR for 24 hours after completion.
 */
export const exportJobs = pgTable(
  "exports",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    /** The key that asked: its notification address gets the email. */
    keyId: uuid("key_id").references(() => apiKeys.id, { onDelete: "set null" }),
    /** No foreign key: a deleted funnel's export fails or expires like any other. */
    funnelId: uuid("funnel_id").notNull(),
    /** overview | conversions | dropoffs | revenue */
    reportType: text("report_type").notNull(),
    /** csv | xlsx | pdf */
    format: text("format").notNull(),
    params: jsonb("params").$type<ExportParams>().notNull(),
    /** queued | processing | completed | failed */
    status: text("status").notNull().default("queued"),
    /** 0..1 */
    progress: real("progress").notNull().default(0),
    /** Runs started (a retry counts). */
    attempts: integer("attempts").notNull().default(0),
    /** Why the last run failed. */
    error: text("error"),
    /** File name inside EXPORT_DIR, once completed. */
    fileName: text("file_name"),
    byteSize: integer("byte_size"),
    /**
     * SHA-256 (hex, of the lower-cased id) of visitors whose consent was withdrawn while the export
     * was unexpired: they are anonymised in its file, now and if it is (re-)rendered later.
     */
    redactedVisitorHashes: text("redacted_visitor_hashes").array().notNull().default(sql`'{}'::text[]`),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull(),
    startedAt: timestamp("started_at", { withTimezone: true }),
    completedAt: timestamp("completed_at", { withTimezone: true }),
    /** completed_at + 24 h: the file and its download link end then. */
    expiresAt: timestamp("expires_at", { withTimezone: true }),
    /** When the "export ready" email was sent (at most once). */
    notifiedAt: timestamp("notified_at", { withTimezone: true }),
    /** When the file was last re-rendered to anonymise a visitor. */
    anonymisedAt: timestamp("anonymised_at", { withTimezone: true }),
    /** When the cleanup deleted the expired file. */
    fileDeletedAt: timestamp("file_deleted_at", { withTimezone: true }),
  },
  (t) => [
    index("idx_exports_account_created").on(t.accountId, t.createdAt),
    index("idx_exports_expires_at").on(t.expiresAt),
  ],
);
