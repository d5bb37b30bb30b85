import { createHash, randomUUID } from "node:crypto";
import type { DocumentInput } from "./document";

/**
 * Anonymising a visitor in an export's data. Only the conversions report lists visitors (its
 * converting_visitors rows); a withdrawn visitor's rows keep their figures, so totals still add up,
 * and get a new random visitor and session id that leads nowhere.
 */

/** Hex SHA-256 of the lower-cased visitor id: how withdrawn visitors are named once consent is gone. */
export function visitorHash(visitorId: string): string {
  return createHash("sha256").update(visitorId.toLowerCase()).digest("hex");
}

/** Reports whose exports list visitor ids. */
export const VISITOR_LISTING_REPORTS = ["conversions"];

export function redactSource(
  source: DocumentInput,
  hashes: readonly string[],
): { source: DocumentInput; changed: boolean } {
  if (source.report.reportType !== "conversions" || hashes.length === 0) return { source, changed: false };
  const withdrawn = new Set(hashes);
  let changed = false;
  const rows = source.report.view.converting_visitors.map((row) => {
    if (!withdrawn.has(visitorHash(row.visitor_id))) return row;
    changed = true;
    return { ...row, visitor_id: randomUUID(), session_id: randomUUID() };
  });
  if (!changed) return { source, changed };
  return {
    source: {
      ...source,
      report: { reportType: "conversions", view: { ...source.report.view, converting_visitors: rows } },
    },
    changed,
  };
}
