import { getExport as findExport } from "@funnel/db/queries/exports";
import type { AccountScope, Deps } from "../../deps";
import { NotFoundError } from "../../errors";
import { type ExportStatusView, toExportStatusView } from "./views";

/** One of the account's export jobs; another account's is not found. */
export async function getExport(
  deps: Pick<Deps, "database" | "exports">,
  scope: Pick<AccountScope, "accountId">,
  input: { jobId: string },
): Promise<ExportStatusView> {
  const row = await findExport(deps.database.db, scope.accountId, input.jobId);
  if (!row) throw new NotFoundError("export job");
  return toExportStatusView(row, deps.exports);
}
