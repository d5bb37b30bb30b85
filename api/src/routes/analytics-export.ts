import { GRANULARITIES } from "@funnel/metrics";
import { createRoute, z } from "@hono/zod-openapi";
import { EXPORT_FORMATS, REPORT_TYPES } from "../exports/jobs";
import { requireApiKey } from "../http/auth";
import { BODY_LIMIT_BYTES, limitBody } from "../http/body-limit";
import { errorResponses } from "../http/errors";
import { periodFields } from "../http/report-schemas";
import { periodBoundsOf } from "../services/analytics/reports/context";
import { createExport } from "../services/exports/create-export";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-12: export a report as CSV, XLSX or PDF, in the background. */

const body = z
  .object({
    funnel_id: z.uuid(),
    report_type: z
      .enum(REPORT_TYPES)
      .openapi({ description: "The report to export, as its route returns it" }),
    ...periodFields,
    granularity: z
      .enum(GRANULARITIES)
      .optional()
      .openapi({ description: "Buckets of over_time (conversions, revenue); default day" }),
    format: z.enum(EXPORT_FORMATS),
    include_charts: z.boolean().optional().openapi({
      description: "PDF only: draw a line chart of over_time and a funnel bar chart of step visitors",
    }),
  })
  .openapi("ExportRequest");

const accepted = z
  .object({
    job_id: z.uuid(),
    status: z.literal("processing"),
    estimated_completion: z.iso.datetime().openapi({
      description:
        "When the export should be done: the exports queued ahead of it and itself, each as long as recent " +
        "runs of the same report and format took; never before the estimate of the account's previous export",
    }),
  })
  .openapi("ExportAccepted");

export const createExportRoute = createRoute({
  method: "post",
  path: "/api/v1/analytics/export",
  tags: ["Exports"],
  security: [{ bearerAuth: [] }],
  summary: "Export a report",
  description:
    "Queues a background job that renders the report over the whole period (every converting visitor, " +
    "not one page) as CSV (a section per table), XLSX (a sheet per table) or PDF (tables, and charts with " +
    "include_charts). Poll GET /api/v1/analytics/export/{job_id}; when it completes, an email with the " +
    "download link goes to the key's notification address (else the account's). The file is kept 24 hours.",
  request: { body: { required: true, content: { "application/json": { schema: body } } } },
  responses: {
    202: { description: "Queued", content: { "application/json": { schema: accepted } } },
    ...errorResponses(400, 401, 404, 413, 429, 503),
  },
});

const register: RegisterRoute = (app, deps) => {
  const middleware = [requireApiKey(deps), limitBody(BODY_LIMIT_BYTES.export)];
  app.openapi({ ...createExportRoute, middleware }, async (c) => {
    const request = c.req.valid("json");
    // The defaults are fixed now: the job renders the period asked for today, whenever it runs.
    const period = periodBoundsOf(request, deps.exports.now());
    const result = await createExport(deps, c.get("scope"), { ...request, ...period });
    return c.json(result, 202);
  });
};

export default register;
