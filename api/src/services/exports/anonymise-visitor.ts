import { addRedactedVisitor, markExportReRendered, withLockedExport } from "@funnel/db/queries/exports";
import type { Deps } from "../../deps";
import { buildDocument } from "../../exports/document";
import { readSource, stageFile, writeSource } from "../../exports/files";
import type { ExportFormat } from "../../exports/jobs";
import { redactSource, VISITOR_LISTING_REPORTS, visitorHash } from "../../exports/redact";
import { RENDERERS } from "../../exports/render";

/**
 * Consent withdrawal's part in exports (CONTRACT.md "Privacy": "any export not yet expired"). Call
 * it after the database is anonymised. Only conversions exports list visitor ids (converting
 * visitors); of those, every unexpired one of the account is handled:
 * - completed: re-rendered now from the report data it was made from, the visitor's rows keeping
 *   their figures under new random visitor and session ids, so the file and its link stay valid
 *   (the visitor's id is gone from the file and from the data kept beside it);
 * - queued or processing: the visitor's hash is recorded on the job, and the run applies it before
 *   its file goes live (under the same row lock, so neither can miss the other).
 * Re-rendering rather than deleting keeps what the requester asked for; the figures were never the
 * visitor's personal data, only the id was. Idempotent: a second call changes nothing.
 */
export async function anonymiseVisitorInExports(
  deps: Pick<Deps, "database" | "exports" | "logger">,
  accountId: string,
  visitorId: string,
): Promise<{ reRendered: number }> {
  const { db } = deps.database;
  const hash = visitorHash(visitorId);
  const ids = await addRedactedVisitor(db, accountId, hash, VISITOR_LISTING_REPORTS, deps.exports.now());
  let reRendered = 0;
  for (const id of ids) {
    const changed = await withLockedExport(db, id, async (row, tx) => {
      if (row?.status !== "completed" || !row.fileName || row.fileDeletedAt !== null) return false;
      const source = await readSource(deps.exports.dir, row.id);
      if (!source) return false;
      const redacted = redactSource(source, row.redactedVisitorHashes);
      if (!redacted.changed) return false;
      const format = row.format as ExportFormat;
      const staged = await stageFile(deps.exports.dir, (path) =>
        RENDERERS[format](buildDocument(redacted.source), path),
      );
      await writeSource(deps.exports.dir, row.id, redacted.source);
      await staged.commit(row.fileName);
      await markExportReRendered(tx, row.id, { byteSize: staged.byteSize, anonymisedAt: deps.exports.now() });
      return true;
    });
    if (changed) reRendered++;
  }
  if (reRendered > 0)
    deps.logger.info({ account_id: accountId, exports: reRendered }, "visitor anonymised in exports");
  return { reRendered };
}
