import { and, asc, desc, eq, inArray, isNotNull, isNull, notInArray, sql } from "drizzle-orm";
import type { Database } from "../client";
import { ingestAcceptedBatches } from "../schema";

/**
 * The embedded default's ingest jobs from the moment they are accepted until their events are
 * written (schema/ingest.ts): inserted before the API answers 202, deleted once written, marked
 * when they fail for good, read back at start.
 */

export interface AcceptedBatch {
  id: string;
  queuedAt: Date;
  /** The job's payload as JSON text, as the queue serialised it once. */
  json: string;
}

/** Failed jobs kept for an operator, newest first; older ones are deleted. */
export const FAILED_BATCHES_KEPT = 1_000;

/** Inserts the jobs in one statement: once it resolves they outlive the process. */
export async function insertAcceptedBatches(db: Database, batches: AcceptedBatch[]): Promise<void> {
  if (batches.length === 0) return;
  await db
    .insert(ingestAcceptedBatches)
    .values(batches.map((b) => ({ id: b.id, queuedAt: b.queuedAt, batch: sql`${b.json}::json` })));
}

/** Forgets jobs whose events are written. */
export async function deleteAcceptedBatches(db: Database, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.delete(ingestAcceptedBatches).where(inArray(ingestAcceptedBatches.id, ids));
}

/** Keeps a job that failed for good with its error, out of the pending ones; the oldest failed beyond the cap go. */
export async function markAcceptedBatchFailed(db: Database, id: string, error: string): Promise<void> {
  await db
    .update(ingestAcceptedBatches)
    .set({ failedAt: new Date(), error })
    .where(eq(ingestAcceptedBatches.id, id));
  const kept = db
    .select({ id: ingestAcceptedBatches.id })
    .from(ingestAcceptedBatches)
    .where(isNotNull(ingestAcceptedBatches.failedAt))
    .orderBy(desc(ingestAcceptedBatches.failedAt))
    .limit(FAILED_BATCHES_KEPT);
  await db
    .delete(ingestAcceptedBatches)
    .where(and(isNotNull(ingestAcceptedBatches.failedAt), notInArray(ingestAcceptedBatches.id, kept)));
}

/** Jobs accepted and neither written nor failed, oldest first: what a process that stopped left. */
export async function pendingAcceptedBatches(
  db: Database,
): Promise<{ id: string; queuedAt: Date; batch: unknown }[]> {
  return db
    .select({
      id: ingestAcceptedBatches.id,
      queuedAt: ingestAcceptedBatches.queuedAt,
      batch: ingestAcceptedBatches.batch,
    })
    .from(ingestAcceptedBatches)
    .where(isNull(ingestAcceptedBatches.failedAt))
    .orderBy(asc(ingestAcceptedBatches.queuedAt), asc(ingestAcceptedBatches.id));
}

/** Jobs that failed for good, newest first, with their errors. */
export async function failedAcceptedBatches(
  db: Database,
): Promise<{ id: string; failedAt: Date | null; error: string | null }[]> {
  return db
    .select({
      id: ingestAcceptedBatches.id,
      failedAt: ingestAcceptedBatches.failedAt,
      error: ingestAcceptedBatches.error,
    })
    .from(ingestAcceptedBatches)
    .where(isNotNull(ingestAcceptedBatches.failedAt))
    .orderBy(desc(ingestAcceptedBatches.failedAt));
}

/**
 * Gives the space of deleted jobs back. Every job passes through this table once and is deleted
 * after its write, and PGlite runs no autovacuum (single-user mode), so without this the table's
 * files would grow by every payload ever accepted. Not inside a transaction.
 */
export async function vacuumAcceptedBatches(db: Database): Promise<void> {
  await db.execute(sql`vacuum ingest_accepted_batches`);
}
