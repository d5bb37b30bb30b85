import { open } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { getExportById } from "@funnel/db/queries/exports";
import type { Deps } from "../../deps";
import { ForbiddenError, GoneError } from "../../errors";
import type { ExportFormat } from "../../exports/jobs";
import { CONTENT_TYPES } from "../../exports/render";
import { verifyDownload } from "../../exports/signing";

/**
 * A signed download link (no API key): the signature must be the server's for this job and expiry
 * (else 403), the expiry not passed (else 410), the file still kept (else 410). A link missing its
 * expiry or signature, or with an expiry that is no number, is a link the server did not sign: 403
 * too, saying so, not a validation error about a parameter the person never typed.
 */

export interface ExportDownload {
  body: ReadableStream<Uint8Array>;
  contentType: string;
  fileName: string;
  byteSize: number;
}

export const INCOMPLETE_LINK_MESSAGE =
  "this download link is incomplete: use the whole link from the export's status or email, with its expires and signature";

export async function openExportDownload(
  deps: Pick<Deps, "database" | "exports">,
  input: { jobId: string; expires?: string | undefined; signature?: string | undefined },
): Promise<ExportDownload> {
  const { signature } = input;
  // Unix seconds as the server writes them: digits only, so "1e3" or " 1" is never the same link.
  if (!signature || !input.expires || !/^\d{1,15}$/.test(input.expires)) {
    throw new ForbiddenError(INCOMPLETE_LINK_MESSAGE);
  }
  const expires = Number(input.expires);
  if (!verifyDownload(deps.exports.signingSecret, input.jobId, expires, signature)) {
    throw new ForbiddenError("invalid download link signature");
  }
  const now = deps.exports.now().getTime();
  if (now >= expires * 1000) throw new GoneError("download link expired");
  const row = await getExportById(deps.database.db, input.jobId);
  if (
    row?.status !== "completed" ||
    !row.fileName ||
    row.fileDeletedAt !== null ||
    (row.expiresAt !== null && row.expiresAt.getTime() <= now)
  ) {
    throw new GoneError("export file no longer kept");
  }
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(join(deps.exports.dir, row.fileName), "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new GoneError("export file no longer kept");
    throw error;
  }
  // Opened first, then streamed: a cleanup or re-render that replaces the file meanwhile cannot cut it short.
  const { size } = await handle.stat();
  const stream = handle.createReadStream({ autoClose: true });
  const format = row.format as ExportFormat;
  const params = row.params;
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, "-");
  return {
    body: Readable.toWeb(stream) as ReadableStream<Uint8Array>,
    contentType: CONTENT_TYPES[format],
    fileName: `${row.reportType}-${safe(params.date_from)}-${safe(params.date_to)}.${format}`,
    byteSize: size,
  };
}
