import type { DatabaseHandle } from "@funnel/db/client";
import { type EventBatch, type WriteBatchOptions, writeBatches } from "@funnel/db/queries/events";
import { keyHash } from "@funnel/db/queries/unit-locks";
import { fieldErrors, toStorableJson } from "@funnel/events";
import type { Logger } from "pino";
import type { IngestBatch } from "../ports";
import { feedRealtime } from "../realtime/feed";
import type { RealtimeStore } from "../realtime/store";
import { ingestBatchEnvelope, storedEvent } from "./batch-schema";
import { type IngestJob, type IngestJobHandler, InvalidBatchError, MAX_EVENTS_PER_WRITE } from "./jobs";
import { WriteMerger } from "./merge";

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
  /** Least time between the starts of a lane's writes (INGEST_WRITE_INTERVAL_MS; default 0). */
  writeIntervalMs?: number;
  /** Jobs the worker holds at once (INGEST_CONCURRENCY): with all of them here, lanes write at once. */
  heldJobs?: number;
}): IngestJobHandler {
  // Jobs inside this handler: when the worker holds all it may, no more come until some settle.
  let jobsHere = 0;
  const moreCanCome = () => jobsHere < (deps.heldJobs ?? Number.POSITIVE_INFINITY);
  // One lane per writer, each writing one transaction at a time: a visitor's events always take
  // the same lane, so the lanes' transactions share no visitor's or session's rows and run side by
  // side instead of waiting on each other's row and unit locks.
  const lanes = Array.from(
    { length: deps.writers ?? 2 },
    () =>
      new WriteMerger<{ batch: EventBatch; options: WriteBatchOptions }>({
        maxEvents: MAX_EVENTS_PER_WRITE,
        writers: 1,
        minIntervalMs: deps.writeIntervalMs ?? 0,
        moreCanCome,
        sizeOf: ({ batch }) => batch.accepted.length + batch.rejected.length,
        isPermanent: (error) => isDataError(error) || isOutOfLocks(error),
        write: async (items) => {
          const { written, ...result } = await writeBatches(deps.database.db, items);
          deps.logger.debug(
            { job_ids: items.map((i) => i.options.batchId), ...result },
            "ingest batches written",
          );
          // After the commit; never throws (the events are stored, a retry would not resend them).
          await feedRealtime(deps.realtime, written, deps.logger);
        },
      }),
  );
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
      // Each event, with its rows and rollups, is written in one transaction of its lane; a job
      // settles once every lane holding some of it committed. A retry finds the committed lanes'
      // events stored already (their ids), so it changes nothing there.
      const written = Promise.all(
        splitByLane(checked, lanes.length).map(([lane, part]) =>
          lanes[lane]?.submit({ batch: part, options }),
        ),
      );
      // The last job the worker may hold is here: every lane writes what it has now.
      if (!moreCanCome()) for (const lane of lanes) lane.poke();
      await written;
    } catch (error) {
      if (isDataError(error)) throw new InvalidBatchError(`database refused the batch: ${messageOf(error)}`);
      throw error;
    } finally {
      jobsHere--;
    }
  };
}

/**
 * The job's events by lane (the hash of funnel and visitor), as [lane, part] for the lanes that
 * get some; refused events go with the first lane (an empty batch too).
 */
export function splitByLane(batch: IngestBatch, lanes: number): [number, IngestBatch][] {
  const parts: IngestBatch[] = Array.from({ length: lanes }, (_, i) => ({
    ...batch,
    accepted: [],
    rejected: i === 0 ? batch.rejected : [],
  }));
  for (const event of batch.accepted) {
    const lane = (keyHash(`${event.funnel_id}|${event.visitor_id}`.toLowerCase()) >>> 0) % lanes;
    parts[lane]?.accepted.push(event);
  }
  const used = parts.flatMap((part, i): [number, IngestBatch][] =>
    part.accepted.length > 0 || part.rejected.length > 0 ? [[i, part]] : [],
  );
  return used.length > 0 ? used : [[0, batch]];
}

/** SQLSTATE 53200: the write took more locks than the server's lock table holds; smaller writes fit. */
function isOutOfLocks(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === "53200") return true;
  }
  return false;
}

/** SQLSTATE class 22 (data exception) and NOT NULL violations: a retry would fail the same way. */
function isDataError(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (code.startsWith("22") || code === "23502")) return true;
  }
  return false;
}

function messageOf(error: unknown): string {
  let e: unknown = error;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
