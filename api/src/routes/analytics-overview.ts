import { createRoute, z } from "@hono/zod-openapi";
import { requireApiKey } from "../http/auth";
import { errorResponses } from "../http/errors";
import {
  count,
  freshness,
  funnelParam,
  periodOnlyQuery,
  periodSchema,
  rateSchema,
} from "../http/report-schemas";
import { getOverview } from "../services/analytics/reports/overview";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-05: funnel overview. */

export const stepRowSchema = z
  .object({
    step_id: z.uuid(),
    step_name: z.string(),
    step_type: z.string(),
    visitors: count("Distinct visitors with a step_entry at the step"),
    entries: count("step_entry events"),
    exits: count("step_exit events"),
    drop_offs: count("step_exit events with outcome bounce or close (0 at the last step)"),
    drop_off_rate: rateSchema("drop_offs ÷ entries"),
    avg_time_seconds: count("Mean time of exited step visits that entered in the period"),
    conversion_rate: rateSchema("Share of the step's visitors converting at or after their first entry"),
  })
  .openapi("StepFigures");

const response = z
  .object({
    funnel_id: z.uuid(),
    funnel_name: z.string(),
    period: periodSchema,
    visitors: z.object({
      total: count("Distinct sessions"),
      unique: count("Distinct visitors"),
      new: count("Visitors whose first event in the funnel ever is in the period"),
      returning: count("unique − new"),
    }),
    conversions: z.object({
      total: count("Conversion events"),
      rate: rateSchema("Distinct converting visitors ÷ unique visitors"),
      value_cents: count("Sum of the conversions' value_cents"),
    }),
    revenue: z.object({
      total_cents: count("= conversions.value_cents (gross)"),
      per_visitor_cents: count("total ÷ unique visitors"),
      per_conversion_cents: count("total ÷ conversions"),
    }),
    steps: z.array(stepRowSchema).openapi({ description: "Every step, in funnel order" }),
    ...freshness,
  })
  .openapi("FunnelOverview");

export const overviewRoute = createRoute({
  method: "get",
  path: "/api/v1/analytics/funnels/{funnel_id}/overview",
  tags: ["Reports"],
  security: [{ bearerAuth: [] }],
  summary: "Funnel overview",
  description:
    "Visitors, conversions, revenue and per-step figures for the period (docs/metrics.md). Served from a " +
    "cache for REPORT_CACHE_SECONDS.",
  request: { params: funnelParam, query: periodOnlyQuery },
  responses: {
    200: { description: "The overview", content: { "application/json": { schema: response } } },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi({ ...overviewRoute, middleware: [requireApiKey(deps)] }, async (c) => {
    const view = await getOverview(deps, c.get("scope"), {
      funnelId: c.req.valid("param").funnel_id,
      ...c.req.valid("query"),
    });
    return c.json(view, 200);
  });
};

export default register;
