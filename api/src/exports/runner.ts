import { getFunnel } from "@funnel/db/queries/catalog";
import {
  type ExportRow,
  exportNotificationAddress,
  getExport,
  getExportById,
  markExportCompleted,
  markExportNotified,
  markExportRunFailed,
  markExportStarted,
  setExportProgress,
  withLockedExport,
} from "@funnel/db/queries/exports";
import type { Deps } from "../deps";
import { InvalidError, NotFoundError } from "../errors";
import type { ExportJobData } from "../ports";
import { getConversions } from "../services/analytics/reports/conversions";
import { getDropOffs } from "../services/analytics/reports/dropoffs";
import { getOverview } from "../services/analytics/reports/overview";
import { getRevenue } from "../services/analytics/reports/revenue";
import { buildDocument, type DocumentInput, type ReportView, stepVisitorsOf } from "./document";
import { exportFileName, stageFile, writeSource } from "./files";
import {
  EXPORT_TTL_MS,
  type ExportFormat,
  ExportInputError,
  type ExportJob,
  type ExportJobHandler,
  type ReportType,
} from "./jobs";
import { redactSource, VISITOR_LISTING_REPORTS } from "./redact";
import { RENDERERS, type Renderers } from "./render";
import { downloadPath } from "./signing";

/**
 * One export job: the report service over the whole period (every page of converting visitors),
 * rendered in the requested format, stored for 24 hours, then the "ready" email. Idempotent: a run
 * of a completed export only sends the email if it has not gone yet; a failed one does nothing.
 */

export type ExportRunnerDeps = Pick<Deps, "database" | "config" | "cache" | "logger" | "exports">;

/** Rows of converting_visitors fetched per report call. */
const VISITOR_PAGE_SIZE = 20_000;

export function createExportHandler(
  deps: ExportRunnerDeps,
  options: { renderers?: Partial<Renderers> } = {},
): ExportJobHandler {
  const renderers: Renderers = { ...RENDERERS, ...options.renderers };
  return async (data, job) => {
    const { db } = deps.database;
    const row = await getExport(db, data.accountId, data.exportId);
    if (!row || row.status === "failed") return;
    if (row.status !== "completed") {
      try {
        await produce(deps, renderers, row, job);
      } catch (error) {
        const input = error instanceof ExportInputError;
        await markExportRunFailed(db, row.id, {
          final: input || job.attempt >= job.attempts,
          error: input
            ? error.message
            : `the export could not be generated (attempt ${job.attempt} of ${job.attempts})`,
        });
        throw error;
      }
    }
    try {
      await notifyOnce(deps, data);
    } catch (error) {
      // The file is ready; a retry of the job only sends the email. After the last, give up on it.
      if (job.attempt < job.attempts) throw error;
      deps.logger.error({ export_id: data.exportId, err: error }, "export email could not be sent");
    }
  };
}

async function produce(deps: ExportRunnerDeps, renderers: Renderers, row: ExportRow, job: ExportJob) {
  const { db } = deps.database;
  const progress = async (value: number) => {
    await Promise.all([setExportProgress(db, row.id, value), job.progress(value)]);
  };
  await markExportStarted(db, row.id, deps.exports.now());
  await progress(0.05);
  const source = await fetchSource(deps, row, (share) => progress(0.05 + 0.55 * share));
  await progress(0.6);
  const format = row.format as ExportFormat;
  const render = (input: DocumentInput) => (path: string) => renderers[format](buildDocument(input), path);

  let applied = row.redactedVisitorHashes;
  let redacted = redactSource(source, applied).source;
  let staged = await stageFile(deps.exports.dir, render(redacted));
  await progress(0.9);

  // Finish under the row's lock: a visitor anonymised while this ran is applied before the file goes live.
  await withLockedExport(db, row.id, async (locked, tx) => {
    if (locked?.status !== "processing") {
      await staged.discard();
      throw new Error(`export ${row.id} is ${locked?.status ?? "gone"}, not processing`);
    }
    if (locked.redactedVisitorHashes.length !== applied.length) {
      applied = locked.redactedVisitorHashes;
      redacted = redactSource(source, applied).source;
      await staged.discard();
      staged = await stageFile(deps.exports.dir, render(redacted));
    }
    const fileName = exportFileName(row.id, format);
    if (VISITOR_LISTING_REPORTS.includes(row.reportType))
      await writeSource(deps.exports.dir, row.id, redacted);
    await staged.commit(fileName);
    const completedAt = deps.exports.now();
    await markExportCompleted(tx, row.id, {
      fileName,
      byteSize: staged.byteSize,
      completedAt,
      expiresAt: new Date(completedAt.getTime() + EXPORT_TTL_MS),
    });
  });
}

/** The report, whole, straight from the report services (never their cache: an export is fresh). */
async function fetchSource(
  deps: ExportRunnerDeps,
  row: ExportRow,
  onProgress: (share: number) => Promise<void>,
): Promise<DocumentInput> {
  const ctx = {
    database: deps.database,
    cache: deps.cache,
    config: { ...deps.config, REPORT_CACHE_SECONDS: 0 },
  };
  const account = { accountId: row.accountId };
  const { date_from, date_to, tz, granularity, include_charts } = row.params;
  const period = { funnelId: row.funnelId, date_from, date_to, tz };
  const funnel = await getFunnel(deps.database.db, row.accountId, row.funnelId);
  if (!funnel) throw new ExportInputError("funnel not found");
  const charts = include_charts && row.format === "pdf";
  try {
    const report = await fetchReport(row.reportType as ReportType);
    let stepVisitors: DocumentInput["stepVisitors"];
    if (charts) {
      // Conversions and revenue carry no step visitors: the overview has them.
      stepVisitors =
        report.reportType === "overview" || report.reportType === "dropoffs"
          ? stepVisitorsOf(report.view)
          : stepVisitorsOf(await getOverview(ctx, account, period));
    }
    return { report, funnelName: funnel.name, generatedAt: deps.exports.now(), stepVisitors };
  } catch (error) {
    // The request was checked when it was made; the funnel may have gone since. No retry fixes that.
    if (error instanceof NotFoundError || error instanceof InvalidError)
      throw new ExportInputError(error.message);
    throw error;
  }

  async function fetchReport(type: ReportType): Promise<ReportView> {
    switch (type) {
      case "overview":
        return { reportType: type, view: await getOverview(ctx, account, period) };
      case "dropoffs":
        return { reportType: type, view: await getDropOffs(ctx, account, period) };
      case "revenue":
        return { reportType: type, view: await getRevenue(ctx, account, { ...period, granularity }) };
      case "conversions": {
        const input = { ...period, granularity, pageSize: VISITOR_PAGE_SIZE };
        const first = await getConversions(ctx, account, { ...input, page: 1 });
        const pages = Math.ceil(first.pagination.total / VISITOR_PAGE_SIZE);
        const rows = [...first.converting_visitors];
        // Pages are read one after another; a visitor and session seen on an earlier page is kept once.
        const seen = new Set(rows.map((r) => `${r.visitor_id} ${r.session_id}`));
        for (let page = 2; page <= pages; page++) {
          await onProgress((page - 1) / pages);
          const next = await getConversions(ctx, account, { ...input, page });
          for (const r of next.converting_visitors) {
            const key = `${r.visitor_id} ${r.session_id}`;
            if (seen.has(key)) continue;
            seen.add(key);
            rows.push(r);
          }
        }
        return {
          reportType: type,
          view: {
            ...first,
            converting_visitors: rows,
            pagination: { page: 1, page_size: rows.length, total: rows.length },
          },
        };
      }
    }
  }
}

async function notifyOnce(deps: ExportRunnerDeps, data: ExportJobData): Promise<void> {
  const { db } = deps.database;
  const row = await getExportById(db, data.exportId);
  if (row?.status !== "completed" || row.notifiedAt !== null || row.expiresAt === null) return;
  const to = await exportNotificationAddress(db, row.accountId, row.keyId);
  if (to === null) return;
  const base = deps.config.PUBLIC_URL ?? `http://localhost:${deps.config.PORT}`;
  const link = new URL(downloadPath(deps.exports.signingSecret, row.id, row.expiresAt), base).toString();
  await deps.exports.mailer.send({
    to,
    subject: `Your ${row.reportType} export (${row.format.toUpperCase()}) is ready`,
    text: [
      `Your ${row.reportType} export of ${row.params.date_from} to ${row.params.date_to} is ready.`,
      "",
      `Download it (no API key needed) until ${row.expiresAt.toISOString()}:`,
      link,
      "",
      `Export job ${row.id}.`,
    ].join("\n"),
  });
  await markExportNotified(db, row.id, deps.exports.now());
}
