import type { ExportRow, ExportStatus } from "@funnel/db/queries/exports";
import type { ExportDeps } from "../../deps";
import type { ExportFormat, ReportType } from "../../exports/jobs";
import { downloadPath } from "../../exports/signing";

/** An export job as GET /api/v1/analytics/export/{job_id} shows it. */
export interface ExportStatusView {
  job_id: string;
  status: ExportStatus;
  /** 0..1 */
  progress: number;
  funnel_id: string;
  report_type: ReportType;
  format: ExportFormat;
  created_at: string;
  completed_at?: string;
  expires_at?: string;
  /** While the file is kept: a link that works without an API key until expires_at. */
  download_url?: string;
  error?: string;
}

export function toExportStatusView(
  row: ExportRow,
  exports: Pick<ExportDeps, "signingSecret" | "now">,
): ExportStatusView {
  const view: ExportStatusView = {
    job_id: row.id,
    status: row.status as ExportStatus,
    progress: Math.min(1, Math.max(0, Math.round(row.progress * 100) / 100)),
    funnel_id: row.funnelId,
    report_type: row.reportType as ReportType,
    format: row.format as ExportFormat,
    created_at: row.createdAt.toISOString(),
  };
  if (row.completedAt) view.completed_at = row.completedAt.toISOString();
  if (row.expiresAt) view.expires_at = row.expiresAt.toISOString();
  const live =
    row.status === "completed" &&
    row.expiresAt !== null &&
    row.fileDeletedAt === null &&
    row.expiresAt.getTime() > exports.now().getTime();
  if (live && row.expiresAt) view.download_url = downloadPath(exports.signingSecret, row.id, row.expiresAt);
  if (row.error && row.status !== "completed") view.error = row.error;
  return view;
}
