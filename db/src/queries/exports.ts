import { and, count, desc, eq, gt, inArray, isNotNull, isNull, lte, not, or, sql } from "drizzle-orm";
import type { Database } from "../client";
import { accounts, apiKeys, type ExportParams, exportJobs } from "../schema";

/**
 * Export jobs (REQ-FUN-004-12). Reads and writes a client can cause are scoped by account; the
 * worker, the cleanup and the signed download act on a job id they were handed (the queue's job
 * or a link signed by the server), which is the one place an id alone is enough.
 */

export type ExportRow = typeof exportJobs.$inferSelect;
export type ExportStatus = "queued" | "processing" | "completed" | "failed";

export interface NewExport {
  id: string;
  accountId: string;
  keyId: string | null;
  funnelId: string;
  reportType: string;
  format: string;
  params: ExportParams;
  createdAt: Date;
}

export async function insertExport(db: Database, input: NewExport): Promise<ExportRow> {
  const [row] = await db.insert(exportJobs).values(input).returning();
  if (!row) throw new Error("insertExport: the insert returned no row");
  return row;
}

/** One of the account's exports; another account's is null, like an unknown one. */
export async function getExport(db: Database, accountId: string, id: string): Promise<ExportRow | null> {
  const [row] = await db
    .select()
    .from(exportJobs)
    .where(and(eq(exportJobs.id, id), eq(exportJobs.accountId, accountId)));
  return row ?? null;
}

/** By id alone: for the worker (a queued job id) and the download (an id the server signed). */
export async function getExportById(db: Database, id: string): Promise<ExportRow | null> {
  const [row] = await db.select().from(exportJobs).where(eq(exportJobs.id, id));
  return row ?? null;
}

/** A run starts: status processing, one more attempt. */
export async function markExportStarted(db: Database, id: string, at: Date): Promise<void> {
  await db
    .update(exportJobs)
    .set({
      status: "processing",
      progress: 0,
      attempts: sql`${exportJobs.attempts} + 1`,
      startedAt: at,
      error: null,
    })
    .where(and(eq(exportJobs.id, id), inArray(exportJobs.status, ["queued", "processing"])));
}

export async function setExportProgress(db: Database, id: string, progress: number): Promise<void> {
  await db
    .update(exportJobs)
    .set({ progress })
    .where(and(eq(exportJobs.id, id), eq(exportJobs.status, "processing")));
}

/**
 * A run failed: back to queued while a retry is coming, failed for good otherwise. A completed
 * export stays completed (a failure after completion is the email's, retried on its own).
 */
export async function markExportRunFailed(
  db: Database,
  id: string,
  outcome: { final: boolean; error: string },
): Promise<void> {
  await db
    .update(exportJobs)
    .set({ status: outcome.final ? "failed" : "queued", progress: 0, error: outcome.error.slice(0, 1000) })
    .where(and(eq(exportJobs.id, id), inArray(exportJobs.status, ["queued", "processing"])));
}

export interface CompletedFile {
  fileName: string;
  byteSize: number;
  completedAt: Date;
  expiresAt: Date;
}

/**
 * Runs `work` with the export's row locked (SELECT … FOR UPDATE) in a transaction: finishing a run
 * and anonymising a visitor in its file take turns, so neither overwrites the other's file.
 */
export async function withLockedExport<T>(
  db: Database,
  id: string,
  work: (row: ExportRow | null, tx: Database) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(exportJobs).where(eq(exportJobs.id, id)).for("update");
    return work(row ?? null, tx);
  });
}

export async function markExportCompleted(db: Database, id: string, file: CompletedFile): Promise<void> {
  await db
    .update(exportJobs)
    .set({ status: "completed", progress: 1, error: null, ...file })
    .where(eq(exportJobs.id, id));
}

export async function markExportReRendered(
  db: Database,
  id: string,
  file: { byteSize: number; anonymisedAt: Date },
): Promise<void> {
  await db.update(exportJobs).set(file).where(eq(exportJobs.id, id));
}

export async function markExportNotified(db: Database, id: string, at: Date): Promise<void> {
  await db.update(exportJobs).set({ notifiedAt: at }).where(eq(exportJobs.id, id));
}

/** The requesting key's notification address, else the account's; null when neither has one. */
export async function exportNotificationAddress(
  db: Database,
  accountId: string,
  keyId: string | null,
): Promise<string | null> {
  const [account] = await db
    .select({ email: accounts.notificationEmail })
    .from(accounts)
    .where(eq(accounts.id, accountId));
  if (keyId !== null) {
    const [key] = await db
      .select({ email: apiKeys.notificationEmail })
      .from(apiKeys)
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId)));
    if (key?.email) return key.email;
  }
  return account?.email ?? null;
}

/**
 * Adds a visitor's hash to every unexpired export of the account whose report lists visitors and
 * that is not finished with yet (queued, processing or completed); returns their ids.
 */
export async function addRedactedVisitor(
  db: Database,
  accountId: string,
  visitorHash: string,
  reportTypes: string[],
  now: Date,
): Promise<string[]> {
  const rows = await db
    .update(exportJobs)
    .set({ redactedVisitorHashes: sql`array_append(${exportJobs.redactedVisitorHashes}, ${visitorHash})` })
    .where(
      and(
        eq(exportJobs.accountId, accountId),
        inArray(exportJobs.reportType, reportTypes),
        inArray(exportJobs.status, ["queued", "processing", "completed"]),
        isNull(exportJobs.fileDeletedAt),
        // Through the column, so `now` is bound as a timestamp (a bare Date in raw SQL is not).
        or(isNull(exportJobs.expiresAt), gt(exportJobs.expiresAt, now)),
        not(sql`${visitorHash} = any(${exportJobs.redactedVisitorHashes})`),
      ),
    )
    .returning({ id: exportJobs.id });
  return rows.map((r) => r.id);
}

/** Exports a worker should (re)run: queued, or processing when a process stopped mid-way. */
export async function unfinishedExports(db: Database): Promise<{ id: string; accountId: string }[]> {
  return db
    .select({ id: exportJobs.id, accountId: exportJobs.accountId })
    .from(exportJobs)
    .where(inArray(exportJobs.status, ["queued", "processing"]))
    .orderBy(exportJobs.createdAt);
}

/** Completed exports whose file has expired and is not deleted yet. */
export async function expiredExportFiles(
  db: Database,
  now: Date,
  limit: number,
): Promise<{ id: string; fileName: string | null }[]> {
  return db
    .select({ id: exportJobs.id, fileName: exportJobs.fileName })
    .from(exportJobs)
    .where(
      and(isNotNull(exportJobs.expiresAt), lte(exportJobs.expiresAt, now), isNull(exportJobs.fileDeletedAt)),
    )
    .limit(limit);
}

export async function markExportFileDeleted(db: Database, ids: string[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await db.update(exportJobs).set({ fileDeletedAt: at }).where(inArray(exportJobs.id, ids));
}

/**
 * How long the latest `sample` completed exports ran (start of their last attempt to completion),
 * newest first, with their report and format: what an estimate of the next one's run learns from.
 */
export async function recentExportRuns(
  db: Database,
  sample: number,
): Promise<{ reportType: string; format: string; ms: number }[]> {
  const rows = await db
    .select({
      reportType: exportJobs.reportType,
      format: exportJobs.format,
      startedAt: exportJobs.startedAt,
      completedAt: exportJobs.completedAt,
    })
    .from(exportJobs)
    .where(and(eq(exportJobs.status, "completed"), isNotNull(exportJobs.startedAt)))
    .orderBy(desc(exportJobs.completedAt))
    .limit(sample);
  return rows.flatMap((r) =>
    r.startedAt && r.completedAt
      ? [{ reportType: r.reportType, format: r.format, ms: r.completedAt.getTime() - r.startedAt.getTime() }]
      : [],
  );
}

/**
 * Every account's queued and running exports in the order they were requested (the order the
 * shared queue runs them): where a new export stands.
 */
export async function exportQueueOrder(
  db: Database,
): Promise<{ id: string; reportType: string; format: string; status: string; startedAt: Date | null }[]> {
  return db
    .select({
      id: exportJobs.id,
      reportType: exportJobs.reportType,
      format: exportJobs.format,
      status: exportJobs.status,
      startedAt: exportJobs.startedAt,
    })
    .from(exportJobs)
    .where(inArray(exportJobs.status, ["queued", "processing"]))
    .orderBy(exportJobs.createdAt, exportJobs.id);
}

/**
 * Inserts the export unless the account already has `cap` exports not finished (queued or
 * processing): null then. The count and the insert run with the account's row locked, so requests
 * of one account arriving together take turns and cannot pass the cap between them; FOR NO KEY
 * UPDATE leaves rows that only reference the account (events, other tables' inserts) unblocked.
 */
export async function insertExportWithinCap(
  db: Database,
  input: NewExport,
  cap: number,
): Promise<ExportRow | null> {
  return db.transaction(async (tx) => {
    await tx
      .select({ id: accounts.id })
      .from(accounts)
      .where(eq(accounts.id, input.accountId))
      .for("no key update");
    const [unfinished] = await tx
      .select({ n: count() })
      .from(exportJobs)
      .where(
        and(eq(exportJobs.accountId, input.accountId), inArray(exportJobs.status, ["queued", "processing"])),
      );
    if ((unfinished?.n ?? 0) >= cap) return null;
    const [row] = await tx.insert(exportJobs).values(input).returning();
    if (!row) throw new Error("insertExportWithinCap: the insert returned no row");
    return row;
  });
}
