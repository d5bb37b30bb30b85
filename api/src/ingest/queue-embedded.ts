import type { Database, DatabaseHandle } from "@funnel/db/client";
import {
  deleteAcceptedBatches,
  insertAcceptedBatches,
  markAcceptedBatchFailed,
  pendingAcceptedBatches,
  vacuumAcceptedBatches,
} from "@funnel/db/queries/accepted-batches";
import type { Logger } from "pino";
import { type IngestJournal, MemoryIngestQueue } from "./queue-memory";

/**
 * The embedded default's ingest queue: the in-process queue with its jobs kept in the embedded
 * database (`ingest_accepted_batches`) from before the 202 until their events are written, so a
 * crash or kill of the process loses no accepted event; the next start queues again what is left.
 * A job that was partly written runs again whole: the writer stores each event id once and each
 * refused item once per job id, which the job keeps.
 *
 * PGlite is one connection, shared by the API and the worker: a job's insert waits while a write
 * transaction holds it. It never runs inside one (an HTTP request inserts, the worker writes), so it
 * cannot wait on itself; the inserts of requests that arrive meanwhile go out together afterwards.
 * PGlite runs with fsync off, so this holds for the process, not for a crash of the machine: the
 * same as for the events it stores.
 */
export async function openEmbeddedIngestQueue(
  database: DatabaseHandle,
  logger: Logger,
): Promise<MemoryIngestQueue> {
  // Space left by the jobs deleted before the last stop, while the table is at its emptiest.
  await vacuumAcceptedBatches(database.db);
  const queue = await MemoryIngestQueue.open(databaseJournal(database.db, logger));
  const left = await queue.depth();
  if (left > 0) {
    logger.warn(
      { jobs: left },
      "ingest jobs accepted before the last stop and not yet written are queued again",
    );
  }
  return queue;
}

/** Jobs deleted between two vacuums of the table, at most. */
const VACUUM_EVERY_JOBS = 100;
/** Time between two vacuums while jobs are deleted, at most, so that a trickle of small jobs is covered too. */
const VACUUM_EVERY_MS = 60_000;

/** The queue's journal in the database; `db` runs no transaction of the caller's. */
export function databaseJournal(db: Database, logger: Logger): IngestJournal {
  let deletedSinceVacuum = 0;
  let lastVacuum = Date.now();
  let vacuuming = false;
  // PGlite runs no autovacuum: every payload passes through the table once, and its space is given
  // back here, by the worker, one vacuum at a time.
  const vacuumNow = async () => {
    vacuuming = true;
    deletedSinceVacuum = 0;
    lastVacuum = Date.now();
    try {
      await vacuumAcceptedBatches(db);
    } catch (error) {
      logger.warn({ err: error }, "vacuum of the ingest journal failed; tried again later");
    } finally {
      vacuuming = false;
    }
  };
  return {
    add: (jobs) =>
      insertAcceptedBatches(
        db,
        jobs.map((job) => ({ id: job.id, queuedAt: new Date(job.queuedAt), json: job.json })),
      ),
    async done(id) {
      await deleteAcceptedBatches(db, [id]);
      deletedSinceVacuum++;
      if (
        !vacuuming &&
        (deletedSinceVacuum >= VACUUM_EVERY_JOBS || Date.now() - lastVacuum >= VACUUM_EVERY_MS)
      ) {
        await vacuumNow();
      }
    },
    failed: (id, error) => markAcceptedBatchFailed(db, id, error),
    async pending() {
      const rows = await pendingAcceptedBatches(db);
      return rows.map((row) => ({ id: row.id, queuedAt: row.queuedAt.getTime(), data: row.batch }));
    },
  };
}
