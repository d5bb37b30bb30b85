import type { ExportDocument } from "./document";
import type { RenderOptions } from "./format";
import type { ExportFormat } from "./jobs";
import { renderCsv } from "./render-csv";
import { renderPdf } from "./render-pdf";
import { renderXlsx } from "./render-xlsx";

/**
 * Writes a document to `file` in one format. `options` (the currency) default to
 * DEFAULT_RENDER_OPTIONS (USD) until an account setting chooses them.
 */
export type Renderer = (doc: ExportDocument, file: string, options?: RenderOptions) => Promise<void>;
export type Renderers = Record<ExportFormat, Renderer>;

export const RENDERERS: Renderers = { csv: renderCsv, xlsx: renderXlsx, pdf: renderPdf };

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  pdf: "application/pdf",
};
