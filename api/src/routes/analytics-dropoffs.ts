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
import { getDropOffs } from "../services/analytics/reports/dropoffs";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-08: drop-off analysis. */

const response = z
  .object({
    funnel_id: z.uuid(),
    period: periodSchema,
    overall_drop_off_rate: rateSchema("1 − last step's visitors ÷ first step's visitors"),
    steps_with_drop_off: z.array(
      z.object({
        step_id: z.uuid(),
        step_name: z.string(),
        drop_offs: count("Exits with outcome bounce or close"),
        drop_off_rate: rateSchema("drop_offs ÷ entries"),
        severity: z.enum(["low", "medium", "high"]).openapi({ description: "high ≥ 0.5, medium ≥ 0.25" }),
        common_exit_reasons: z.array(
          z.object({
            reason: z.string().openapi({ description: "metadata.reason, else the exit outcome" }),
            count: count("Exits that left or went back for this reason"),
            percentage: rateSchema("count ÷ those exits"),
          }),
        ),
        suggestions: z.array(z.string()).openapi({
          description: "Built from the step's own figures, each quoting its evidence (docs/metrics.md)",
        }),
      }),
    ),
    drop_off_funnel: z.array(
      z.object({
        step_id: z.uuid(),
        step_name: z.string(),
        visitors: count("Distinct visitors entering the step"),
        drop_offs: count("Exits with outcome bounce or close"),
        cumulative_drop_off_rate: rateSchema("1 − visitors ÷ first step's visitors"),
      }),
    ),
    ...freshness,
  })
  .openapi("DropOffAnalysis");

export const dropOffsRoute = createRoute({
  method: "get",
  path: "/api/v1/analytics/funnels/{funnel_id}/dropoffs",
  tags: ["Reports"],
  security: [{ bearerAuth: [] }],
  summary: "Drop-off analysis",
  description:
    "Where the funnel loses visitors, why they say they leave, and suggestions derived from the data.",
  request: { params: funnelParam, query: periodOnlyQuery },
  responses: {
    200: { description: "The drop-off analysis", content: { "application/json": { schema: response } } },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi({ ...dropOffsRoute, middleware: [requireApiKey(deps)] }, async (c) => {
    const view = await getDropOffs(deps, c.get("scope"), {
      funnelId: c.req.valid("param").funnel_id,
      ...c.req.valid("query"),
    });
    return c.json(view, 200);
  });
};

export default register;
