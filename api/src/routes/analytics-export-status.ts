import { createRoute, z } from "@hono/zod-openapi";
import { EXPORT_FORMATS, REPORT_TYPES } from "../exports/jobs";
import { requireApiKey } from "../http/auth";
import { errorResponses } from "../http/errors";
import { getExport } from "../services/exports/get-export";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-12: an export job's status and, once done, its download link. */

export const exportJobParam = z.object({
  job_id: z.uuid().openapi({ param: { name: "job_id", in: "path" }, description: "The export job's id" }),
});

const response = z
  .object({
    job_id: z.uuid(),
    status: z.enum(["queued", "processing", "completed", "failed"]),
    progress: z.number().min(0).max(1).openapi({ description: "0..1" }),
    funnel_id: z.uuid(),
    report_type: z.enum(REPORT_TYPES),
    format: z.enum(EXPORT_FORMATS),
    created_at: z.iso.datetime(),
    completed_at: z.iso.datetime().optional(),
    expires_at: z.iso.datetime().optional().openapi({ description: "completed_at + 24 hours" }),
    download_url: z.string().optional().openapi({
      description: "Until expires_at: a signed link (no API key needed), relative to the API's base URL",
    }),
    error: z.string().optional().openapi({ description: "Why the last run failed" }),
  })
  .openapi("ExportJob");

export const exportStatusRoute = createRoute({
  method: "get",
  path: "/api/v1/analytics/export/{job_id}",
  tags: ["Exports"],
  security: [{ bearerAuth: [] }],
  summary: "Export job status",
  description:
    "queued (waiting for a worker, or for a retry), processing, completed or failed (after its retries). " +
    "Another account's job is a 404.",
  request: { params: exportJobParam },
  responses: {
    200: { description: "The job", content: { "application/json": { schema: response } } },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi({ ...exportStatusRoute, middleware: [requireApiKey(deps)] }, async (c) => {
    const view = await getExport(deps, c.get("scope"), { jobId: c.req.valid("param").job_id });
    return c.json(view, 200);
  });
};

export default register;
