import { createRoute, z } from "@hono/zod-openapi";
import { requireApiKey } from "../http/auth";
import { errorResponses } from "../http/errors";
import {
  bucketedQuery,
  count,
  freshness,
  funnelParam,
  periodSchema,
  rateSchema,
} from "../http/report-schemas";
import { getStepReport } from "../services/analytics/reports/step";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-06: one step in detail. */

const shares = {
  visitors: count("Step visitors who came this way"),
  percentage: rateSchema("visitors ÷ step visitors"),
};

const response = z
  .object({
    funnel_id: z.uuid(),
    step_id: z.uuid(),
    step_name: z.string(),
    step_type: z.string(),
    period: periodSchema,
    granularity: z.enum(["hour", "day", "week"]),
    summary: z.object({
      visitors: count("Distinct visitors with a step_entry"),
      unique_visitors: count("= visitors"),
      entries: count("step_entry events"),
      exits: count("step_exit events"),
      drop_offs: count("Exits with outcome bounce or close (0 at the last step)"),
      drop_off_rate: rateSchema("drop_offs ÷ entries"),
      avg_time_seconds: count("Mean time of exited step visits"),
      median_time_seconds: count("Median time of exited step visits"),
      conversion_rate: rateSchema("Share of step visitors converting at or after their first entry"),
    }),
    over_time: z.array(
      z.object({
        timestamp: z.iso.datetime(),
        visitors: count("Distinct visitors entering in the bucket"),
        entries: count("Entries in the bucket"),
        exits: count("Exits in the bucket"),
        drop_off_rate: rateSchema("Drop-offs ÷ entries in the bucket"),
        avg_time_seconds: count("Mean time of visits entering in the bucket"),
      }),
    ),
    traffic_sources: z.array(z.object({ source: z.string(), ...shares })).openapi({ description: "Top 10" }),
    devices: z.array(z.object({ device_type: z.string(), ...shares })).openapi({ description: "Top 10" }),
    browsers: z.array(z.object({ browser: z.string(), ...shares })).openapi({ description: "Top 10" }),
    entry_paths: z.array(z.object({ previous_step_id: z.uuid().nullable(), count: count("Entries") })),
    exit_paths: z.array(z.object({ next_step_id: z.uuid().nullable(), count: count("Exits") })),
    ...freshness,
  })
  .openapi("StepAnalytics");

export const stepRoute = createRoute({
  method: "get",
  path: "/api/v1/analytics/funnels/{funnel_id}/steps/{step_id}",
  tags: ["Reports"],
  security: [{ bearerAuth: [] }],
  summary: "Step analytics",
  description: "One step's figures, over time, by source, device and browser, and its entry and exit paths.",
  request: {
    params: funnelParam.extend({
      step_id: z.uuid().openapi({ param: { name: "step_id", in: "path" }, description: "The step's id" }),
    }),
    query: bucketedQuery,
  },
  responses: {
    200: { description: "The step's analytics", content: { "application/json": { schema: response } } },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi({ ...stepRoute, middleware: [requireApiKey(deps)] }, async (c) => {
    const { funnel_id, step_id } = c.req.valid("param");
    const view = await getStepReport(deps, c.get("scope"), {
      funnelId: funnel_id,
      stepId: step_id,
      ...c.req.valid("query"),
    });
    return c.json(view, 200);
  });
};

export default register;
