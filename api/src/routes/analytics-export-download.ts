import { createRoute, z } from "@hono/zod-openapi";
import { errorResponses } from "../http/errors";
import { openExportDownload } from "../services/exports/open-download";
import { exportJobParam } from "./analytics-export-status";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-12: the export file, by the signed link the job status and the email give. */

// Optional here: a link without them is answered 403 by the service, as any link it did not sign.
const query = z.object({
  expires: z.string().optional().openapi({ description: "Unix seconds; part of the signed link" }),
  signature: z.string().optional().openapi({ description: "Part of the signed link" }),
});

const file = z.string().openapi({ format: "binary" });

export const exportDownloadRoute = createRoute({
  method: "get",
  path: "/api/v1/analytics/export/{job_id}/download",
  tags: ["Exports"],
  summary: "Download an export",
  description:
    "No API key: the link's signature (HMAC-SHA256 over the job id and expiry with a server secret) is the " +
    "credential. A changed or incomplete link (no expires or signature) or another job's signature is a 403; " +
    "after 24 hours, 410.",
  request: { params: exportJobParam, query },
  responses: {
    200: {
      description: "The file",
      content: {
        "text/csv": { schema: file },
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": { schema: file },
        "application/pdf": { schema: file },
      },
    },
    ...errorResponses(400, 403, 410),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi(exportDownloadRoute, async (c) => {
    const { expires, signature } = c.req.valid("query");
    const download = await openExportDownload(deps, {
      jobId: c.req.valid("param").job_id,
      expires,
      signature,
    });
    return c.body(download.body, 200, {
      "content-type": download.contentType,
      "content-length": String(download.byteSize),
      "content-disposition": `attachment; filename="${download.fileName}"`,
      "cache-control": "private, no-store",
      "x-content-type-options": "nosniff",
    });
  });
};

export default register;
