import { createRoute, z } from "@hono/zod-openapi";
import { requireApiKey } from "../http/auth";
import { errorResponses } from "../http/errors";
import { getRealtime, type RealtimeView } from "../services/analytics/realtime";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-11: who is in the funnel right now, from the store the ingest worker keeps. */

const response = z
  .object({
    funnel_id: z.uuid(),
    timestamp: z.iso
      .datetime()
      .openapi({ description: "When this picture was taken (answers are cached 5 s)" }),
    active_visitors: z.object({
      total: z
        .number()
        .int()
        .openapi({ description: "Distinct visitors with an event in the last 30 minutes" }),
      by_step: z
        .array(z.object({ step_id: z.uuid(), step_name: z.string(), visitors: z.number().int() }))
        .openapi({
          description:
            "Every step in funnel order; each active visitor counted once, at the step of its latest " +
            "step_entry in the last 30 minutes (visitors without one are in the total only)",
        }),
    }),
    recent_events: z
      .array(
        z.object({
          event_type: z.string(),
          step_id: z.uuid().nullable(),
          timestamp: z.iso.datetime(),
          session_id: z.string(),
        }),
      )
      .openapi({ description: "The 50 newest events by event time, newest first" }),
    conversions_last_5min: z.object({ count: z.number().int(), value_cents: z.number().int() }),
  })
  .openapi("RealtimeAnalytics");

export const realtimeRoute = createRoute({
  method: "get",
  path: "/api/v1/analytics/funnels/{funnel_id}/realtime",
  tags: ["Reports"],
  security: [{ bearerAuth: [] }],
  summary: "Real-time view of a funnel",
  description:
    "Active visitors of the last 30 minutes by current step, the 50 newest events and the conversions " +
    "of the last 5 minutes, by event time, bots excluded. Kept up to date at ingest; cached for 5 seconds.",
  request: {
    params: z.object({
      funnel_id: z
        .uuid()
        .openapi({ param: { name: "funnel_id", in: "path" }, description: "The funnel's id" }),
    }),
  },
  responses: {
    200: { description: "The funnel right now", content: { "application/json": { schema: response } } },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi({ ...realtimeRoute, middleware: [requireApiKey(deps)] }, async (c) => {
    const view: RealtimeView = await getRealtime(deps, c.get("scope"), {
      funnelId: c.req.valid("param").funnel_id,
    });
    return c.json(view, 200);
  });
};

export default register;
