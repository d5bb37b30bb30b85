import { createRoute, z } from "@hono/zod-openapi";
import { requireApiKey } from "../http/auth";
import { errorResponses } from "../http/errors";
import { withdrawConsent } from "../services/privacy/withdraw-consent";
import type { RegisterRoute } from "./index";

/** CONTRACT.md "Privacy": a visitor withdrew consent; anonymise everything stored about it. */

const visitorParam = z.object({
  visitor_id: z
    .uuid()
    .openapi({ param: { name: "visitor_id", in: "path" }, description: "The visitor's id" }),
});

const response = z
  .object({
    visitor_id: z.uuid(),
    status: z.literal("anonymised"),
    events: z.number().int().openapi({
      description: "Stored events anonymised by this call (0 when none, or when an earlier call had done it)",
    }),
    withdrawn_at: z.iso
      .datetime()
      .openapi({ description: "When consent was first withdrawn for this visitor" }),
  })
  .openapi("ConsentWithdrawn");

export const consentWithdrawnRoute = createRoute({
  method: "post",
  path: "/api/v1/analytics/visitors/{visitor_id}/consent-withdrawn",
  tags: ["Visitors"],
  security: [{ bearerAuth: [] }],
  summary: "Withdraw a visitor's consent",
  description:
    "In the key's account, every event of the visitor loses its IP, user agent, referrer, metadata and URL " +
    "query string and fragment, and its visitor id (and session ids) are replaced by random ones, in the " +
    "rollups too: every report keeps its figures, nothing leads back to the visitor. Its journey is then a " +
    "404. Events of the visitor that arrive later (still queued, or sent again) are stored anonymised. " +
    "Cached reports and the real-time view are updated. Idempotent; never a 404 (a visitor whose events " +
    "are all still queued must be recorded too).",
  request: { params: visitorParam },
  responses: {
    202: { description: "Anonymised", content: { "application/json": { schema: response } } },
    ...errorResponses(400, 401),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi({ ...consentWithdrawnRoute, middleware: [requireApiKey(deps)] }, async (c) => {
    const result = await withdrawConsent(deps, c.get("scope"), {
      visitorId: c.req.valid("param").visitor_id,
    });
    return c.json(result, 202);
  });
};

export default register;
