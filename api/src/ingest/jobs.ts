import type { IngestBatch } from "../ports";

/**
 * What an ingest job is, whichever queue carries it: the payload is one `IngestBatch`, the job id
 * is a UUID fixed when it is queued (the same on every retry), and the retry policy is explicit.
 */

export const INGEST_QUEUE_NAME = "ingest";

/** Largest job: concurrent requests are coalesced into jobs of at most this many events. */
export const MAX_EVENTS_PER_JOB = 1_000;

/** Largest write: the jobs a worker holds at once are written together up to this many events. */
export const MAX_EVENTS_PER_WRITE = 4_000;

export const INGEST_RETRY = {
  /** 1 s, 2 s, 4 s … doubling: twelve attempts ride out about an hour of database outage. */
  attempts: 12,
  backoffMs: 1_000,
} as const;

export interface IngestJob {
  /** Stable across retries: the writer uses it to store a batch's rejected events once. */
  id: string;
  /** 1 on the first run. */
  attempt: number;
  /** When the job was queued (unix ms): the time its rejected events are stamped with. */
  queuedAt: number;
}

/** Processes one job; a `BatchHandler` fits too, it just ignores the job. */
export type IngestJobHandler = (batch: IngestBatch, job: IngestJob) => Promise<void>;

/**
 * Bad input that no retry can fix (a payload that does not match the schema, a value the database
 * refuses). Queues fail the job at once and keep it for an operator instead of retrying it.
 */
export class InvalidBatchError extends Error {
  override readonly name = "InvalidBatchError";
}

/** Delay before attempt `attempt + 1`, for queues that schedule retries themselves. */
export function retryDelayMs(attempt: number): number {
  return INGEST_RETRY.backoffMs * 2 ** (attempt - 1);
}
