import type { AcceptedEvent, FieldError } from "@funnel/events";

/**
 * The small interfaces the product reaches its queue, cache and rate limiter through. Each has a
 * Redis/BullMQ implementation and an in-process one for the embedded default, chosen once at boot.
 */

export type IngestSource = "track" | "import" | "edge";

/** One unit of ingest work: events already validated and fixed (ids, times), plus refused ones. */
export interface IngestBatch {
  source: IngestSource;
  /** Set for /import: the events may only land in this account's funnels. */
  accountId: string | null;
  accepted: AcceptedEvent[];
  rejected: { index: number; errors: FieldError[]; raw: unknown }[];
}

export interface IngestQueue {
  /** Resolves once the batch is durably queued; only then may the caller answer 202. */
  enqueue(batch: IngestBatch): Promise<void>;
  /** Jobs waiting or running. */
  depth(): Promise<number>;
  /** Health of the store behind the queue, for /readyz; `durable` false when acks may be lost. */
  health(): Promise<QueueHealth>;
  close(): Promise<void>;
}

export interface QueueHealth {
  reachable: boolean;
  durable: boolean;
  warnings: string[];
}

export type BatchHandler = (batch: IngestBatch) => Promise<void>;

export interface IngestWorker {
  /** Stops taking jobs and waits for the ones in hand to finish. */
  close(): Promise<void>;
}

export interface RateLimiter {
  /** Takes `cost` tokens from `key`'s bucket; `retryAfterSeconds` tells when enough will be back. */
  take(key: string, cost: number): Promise<{ allowed: boolean; retryAfterSeconds: number }>;
}

export interface Cache {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  /** Sets `key` for `ttlSeconds` unless it is set already; true for the one caller that set it. */
  claim(key: string, ttlSeconds: number): Promise<boolean>;
  deleteByPrefix(prefix: string): Promise<void>;
}

/** One export job: the `exports` row it renders (its id is also the queue's job id). */
export interface ExportJobData {
  exportId: string;
  accountId: string;
}

/** The export job queue (REQ-FUN-004-12): BullMQ on Redis, or in process in the embedded default. */
export interface ExportQueue {
  /** Resolves once the job is queued; queueing an id already queued changes nothing. */
  enqueue(job: ExportJobData): Promise<void>;
  /** Jobs waiting, delayed for a retry, or running. */
  depth(): Promise<number>;
  close(): Promise<void>;
}

/** A running export worker: closing stops taking jobs and waits for those in hand. */
export type ExportWorker = IngestWorker;

/** Sends mail: SMTP, or in the embedded default one .eml file per message in an outbox folder. */
export interface Mailer {
  send(message: { to: string; subject: string; text: string }): Promise<void>;
}
