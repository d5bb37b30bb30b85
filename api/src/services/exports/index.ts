/** Exports (REQ-FUN-004-12): one function per verb; the jobs themselves are in api/src/exports/. */
export { anonymiseVisitorInExports } from "./anonymise-visitor";
export { createExport, type ExportAccepted, type ExportRequest } from "./create-export";
export { getExport } from "./get-export";
export { type ExportDownload, openExportDownload } from "./open-download";
export * from "./views";
