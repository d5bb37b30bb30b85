import type { ExportJobData } from "../ports";

/**
 * What an export job is, whichever queue carries it: the payload names one `exports` row, the job
 * id is that row's id (queueing it twice changes nothing), and the retry policy is explicit.
 */

export const EXPORT_QUEUE_NAME = "export";

export const REPORT_TYPES = ["overview", "conversions", "dropoffs", "revenue"] as const;
export type ReportType = (typeof REPORT_TYPES)[number];

export const EXPORT_FORMATS = ["csv", "xlsx", "pdf"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** How long a completed export's file and link last (REQ-FUN-004-12). */
export const EXPORT_TTL_MS = 24 * 3600 * 1000;

export interface RetryPolicy {
  attempts: number;
  /** Delay before the second attempt; doubles after each further one. */
  backoffMs: number;
}

/** 10 s, 20 s: a database restart or a lost Redis connection is ridden out; a bug fails in a minute. */
export const EXPORT_RETRY: RetryPolicy = { attempts: 3, backoffMs: 10_000 };

export function retryDelayMs(policy: RetryPolicy, attempt: number): number {
  return policy.backoffMs * 2 ** (attempt - 1);
}

export interface ExportJob {
  id: string;
  /** 1 on the first run. */
  attempt: number;
  attempts: number;
  /** Reports progress (0..1) to the queue, where it keeps any. */
  progress(value: number): Promise<void>;
}

export type ExportJobHandler = (data: ExportJobData, job: ExportJob) => Promise<void>;

/** Input no retry can fix (the funnel was deleted since the request): the job fails at once. */
export class ExportInputError extends Error {
  override readonly name = "ExportInputError";
}
