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
import { getRevenue } from "../services/analytics/reports/revenue";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-10: revenue metrics. */

const response = z
  .object({
    funnel_id: z.uuid(),
    period: periodSchema,
    granularity: z.enum(["hour", "day", "week"]),
    summary: z.object({
      total_revenue_cents: count("Sum of order values (conversions with value_cents > 0)"),
      revenue_per_visitor_cents: count("total ÷ unique visitors"),
      revenue_per_conversion_cents: count("total ÷ conversion events"),
      refund_rate: rateSchema("refund events ÷ orders (at most 1)"),
      net_revenue_cents: count("total − refunds"),
    }),
    by_source: z.array(
      z.object({
        source: z.string(),
        revenue_cents: count("Order revenue of sessions from the source"),
        percentage: rateSchema("Share of total revenue"),
      }),
    ),
    by_step: z.array(
      z.object({
        step_id: z.uuid(),
        step_name: z.string(),
        revenue_cents: count("Order revenue attributed to the step"),
        orders: count("Orders attributed to the step"),
        avg_order_value_cents: count("revenue ÷ orders"),
      }),
    ),
    over_time: z.array(
      z.object({
        timestamp: z.iso.datetime(),
        revenue_cents: count("Order revenue in the bucket"),
        orders: count("Orders in the bucket"),
        avg_order_value_cents: count("revenue ÷ orders"),
      }),
    ),
    top_products: z
      .array(
        z.object({
          product_id: z.string(),
          product_name: z.string(),
          revenue_cents: count("Σ quantity × price_cents"),
          units_sold: count("Σ quantity"),
        }),
      )
      .openapi({ description: "Top 20 by revenue, from metadata.products of orders" }),
    ...freshness,
  })
  .openapi("RevenueMetrics");

export const revenueRoute = createRoute({
  method: "get",
  path: "/api/v1/analytics/funnels/{funnel_id}/revenue",
  tags: ["Reports"],
  security: [{ bearerAuth: [] }],
  summary: "Revenue metrics",
  description: "Revenue, refunds and net revenue, by source, step and over time, and the top products.",
  request: { params: funnelParam, query: bucketedQuery },
  responses: {
    200: { description: "The revenue metrics", content: { "application/json": { schema: response } } },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi({ ...revenueRoute, middleware: [requireApiKey(deps)] }, async (c) => {
    const view = await getRevenue(deps, c.get("scope"), {
      funnelId: c.req.valid("param").funnel_id,
      ...c.req.valid("query"),
    });
    return c.json(view, 200);
  });
};

export default register;
