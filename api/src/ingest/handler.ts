import type { DatabaseHandle } from "@funnel/db/client";
import { type EventBatch, type WriteBatchOptions, writeBatches } from "@funnel/db/queries/events";
import { fieldErrors, toStorableJson } from "@funnel/events";
import type { Logger } from "pino";
import type { IngestBatch } from "../ports";
import { feedRealtime } from "../realtime/feed";
import type { RealtimeStore } from "../realtime/store";
import { ingestBatchEnvelope, storedEvent } from "./batch-schema";
import { type IngestJob, type IngestJobHandler, InvalidBatchError, MAX_EVENTS_PER_WRITE } from "./jobs";
import { WriteMerger } from "./merge";
import { isDataError, messageOf } from "./sql-errors";

/**
 * The ingest worker's job: check the payload, then write it with `writeBatches` (idempotent, so a
 * retried job changes nothing), together with the other jobs the worker holds at that moment
 * (merge.ts). Bad input fails the job for good; anything else is retried.
 */
export function createIngestHandler(deps: {
  database: DatabaseHandle;
  logger: Logger;
  /** Fed with the stored events after each commit (real-time view). */
  realtime?: RealtimeStore;
  /** Writes in flight at once (INGEST_WRITERS). */
  writers?: number;
  /** Least time between the starts of two writes (INGEST_WRITE_INTERVAL_MS; default 0). */
  writeIntervalMs?: number;
  /** Jobs the worker holds at once (INGEST_CONCURRENCY): with all of them here, a write goes at once. */
  heldJobs?: number;
  /** Called after each commit: the deriver has new rows in the backlog. */
  onStored?: () => void;
}): IngestJobHandler {
  // Jobs inside this handler: when the worker holds all it may, no more come until some settle.
  let jobsHere = 0;
  const moreCanCome = () => jobsHere < (deps.heldJobs ?? Number.POSITIVE_INFINITY);
  // A write stores events and adds them to the rollup backlog, nothing more: writes in flight at
  // once meet only on an event id they share (locked in key order), so any job can go in any write.
  const merger = new WriteMerger<{ batch: EventBatch; options: WriteBatchOptions }>({
    maxEvents: MAX_EVENTS_PER_WRITE,
    writers: deps.writers ?? 2,
    minIntervalMs: deps.writeIntervalMs ?? 0,
    moreCanCome,
    sizeOf: ({ batch }) => batch.accepted.length + batch.rejected.length,
    isPermanent: isDataError,
    write: async (items) => {
      const { written, ...result } = await writeBatches(deps.database.db, items);
      deps.logger.debug(
        { job_ids: items.map((i) => i.options.batchId), ...result },
        "ingest batches written",
      );
      deps.onStored?.();
      // After the commit; never throws (the events are stored, a retry would not resend them).
      await feedRealtime(deps.realtime, written, deps.logger);
    },
  });
  return async (batch: IngestBatch, job: IngestJob) => {
    const envelope = ingestBatchEnvelope.safeParse(batch);
    if (!envelope.success) {
      const issue = envelope.error.issues[0];
      throw new InvalidBatchError(`job payload does not match the batch schema at ${issue?.path.join(".")}`);
    }
    // Refused events are kept as sent, but a NUL or half a surrogate pair would make the database
    // refuse the whole batch, accepted events included: those characters are replaced in the copy.
    const checked: IngestBatch = {
      ...envelope.data,
      accepted: [],
      rejected: envelope.data.rejected.map((item) => ({
        index: item.index,
        errors: toStorableJson(item.errors),
        raw: toStorableJson(item.raw),
      })),
    };
    envelope.data.accepted.forEach((raw, index) => {
      const event = storedEvent.safeParse(raw);
      if (event.success) checked.accepted.push(event.data);
      else
        checked.rejected.push({
          index,
          errors: toStorableJson(fieldErrors(event.error)),
          raw: toStorableJson(raw),
        });
    });
    jobsHere++;
    try {
      const options = { batchId: job.id, receivedAt: new Date(job.queuedAt) };
      // The job's events and refused items are written in one transaction; a retry finds them
      // stored already (their ids), so it changes nothing.
      const written = merger.submit({ batch: checked, options });
      // The last job the worker may hold is here: the merger writes what it has now.
      if (!moreCanCome()) merger.poke();
      await written;
    } catch (error) {
      if (isDataError(error)) throw new InvalidBatchError(`database refused the batch: ${messageOf(error)}`);
      throw error;
    } finally {
      jobsHere--;
    }
  };
}
