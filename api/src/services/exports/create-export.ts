import { randomUUID } from "node:crypto";
import { getFunnel } from "@funnel/db/queries/catalog";
import { insertExportWithinCap, markExportRunFailed } from "@funnel/db/queries/exports";
import type { Granularity } from "@funnel/metrics";
import type { AccountScope, Deps } from "../../deps";
import { LimitExceededError, NotFoundError, UnavailableError } from "../../errors";
import type { ExportFormat, ReportType } from "../../exports/jobs";
import { periodOf } from "../analytics/reports/context";
import { estimateCompletion, recentRunTimes } from "./estimate-completion";

/** REQ-FUN-004-12: queues an export of a report; the job renders it (api/src/exports/). */

export interface ExportRequest {
  funnel_id: string;
  report_type: ReportType;
  date_from: string;
  date_to: string;
  tz?: string | undefined;
  granularity?: Granularity | undefined;
  format: ExportFormat;
  include_charts?: boolean | undefined;
}

export interface ExportAccepted {
  job_id: string;
  /** Always "processing": the job is in the background pipeline (GET tells queued from running). */
  status: "processing";
  /** See estimate-completion.ts: the queue ahead and recent run times of the same report and format. */
  estimated_completion: string;
}

export async function createExport(
  deps: Pick<Deps, "database" | "config" | "logger" | "exports" | "cache">,
  scope: AccountScope,
  input: ExportRequest,
): Promise<ExportAccepted> {
  const { db } = deps.database;
  // The report routes' own checks, now rather than in the job: a bad period is a 400 naming the
  // parameter, another account's funnel a 404.
  periodOf({ funnelId: input.funnel_id, date_from: input.date_from, date_to: input.date_to, tz: input.tz });
  const funnel = await getFunnel(db, scope.accountId, input.funnel_id);
  if (!funnel) throw new NotFoundError("funnel");

  const now = deps.exports.now();
  const runTimes = await recentRunTimes(deps);
  const cap = deps.config.EXPORT_QUEUED_PER_ACCOUNT;
  const row = await insertExportWithinCap(
    db,
    {
      id: randomUUID(),
      accountId: scope.accountId,
      keyId: scope.keyId,
      funnelId: funnel.id,
      reportType: input.report_type,
      format: input.format,
      params: {
        date_from: input.date_from,
        date_to: input.date_to,
        tz: input.tz,
        granularity: input.granularity,
        include_charts: input.include_charts ?? false,
      },
      createdAt: now,
    },
    cap,
  );
  if (!row) {
    // One of the account's own exports finishing frees a place: about one typical run away.
    throw new LimitExceededError(
      `at most ${cap} exports may be queued or running per account; try again when one has finished`,
      Math.max(1, Math.ceil(runTimes.typical / 1000)),
    );
  }
  try {
    await deps.exports.queue.enqueue({ exportId: row.id, accountId: scope.accountId });
  } catch (error) {
    deps.logger.error({ export_id: row.id, err: error }, "export could not be queued");
    await markExportRunFailed(db, row.id, { final: true, error: "the export could not be queued" });
    throw new UnavailableError("export queue unavailable, try again");
  }
  let estimate: Date;
  try {
    estimate = await estimateCompletion(deps, { accountId: scope.accountId, exportId: row.id, runTimes });
  } catch (error) {
    // The export is queued: a failed estimate must not make the request fail.
    deps.logger.warn({ export_id: row.id, err: error }, "export completion could not be estimated");
    estimate = new Date(now.getTime() + runTimes.of(input.report_type, input.format));
  }
  return { job_id: row.id, status: "processing", estimated_completion: estimate.toISOString() };
}
