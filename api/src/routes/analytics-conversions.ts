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
import { CONVERSION_TYPES, getConversions } from "../services/analytics/reports/conversions";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-07: conversion metrics. */

export const MAX_PAGE_SIZE = 500;

const response = z
  .object({
    funnel_id: z.uuid(),
    period: periodSchema,
    granularity: z.enum(["hour", "day", "week"]),
    summary: z.object({
      total_conversions: count("Conversion events"),
      conversion_rate: rateSchema("Distinct converting visitors ÷ unique visitors"),
      total_value_cents: count("Sum of value_cents"),
      avg_value_cents: count("total value ÷ conversions that carry a value"),
    }),
    by_type: z.array(
      z.object({
        conversion_type: z.enum(CONVERSION_TYPES),
        count: count("Conversion events of the type"),
        rate: rateSchema("Distinct visitors with the type ÷ unique visitors"),
        value_cents: count("Sum of their value_cents"),
      }),
    ),
    by_step: z.array(
      z.object({
        step_id: z.uuid(),
        step_name: z.string(),
        conversions: count("Conversions whose session's latest step entry before them is this step"),
        conversion_rate: rateSchema("Their distinct visitors ÷ the step's visitors"),
      }),
    ),
    over_time: z.array(
      z.object({
        timestamp: z.iso.datetime(),
        conversions: count("Conversions in the bucket"),
        rate: rateSchema("Converting visitors ÷ visitors of the bucket"),
        value_cents: count("Their value"),
      }),
    ),
    converting_visitors: z.array(
      z.object({
        visitor_id: z.uuid(),
        session_id: z.string(),
        conversions: count("Conversions of the session in the period"),
        total_value_cents: count("Their value"),
        first_conversion_at: z.iso.datetime(),
        last_conversion_at: z.iso.datetime(),
      }),
    ),
    pagination: z.object({
      page: count("From 1"),
      page_size: count("Rows per page"),
      total: count("Rows on all pages"),
    }),
    ...freshness,
  })
  .openapi("ConversionMetrics");

export const conversionsRoute = createRoute({
  method: "get",
  path: "/api/v1/analytics/funnels/{funnel_id}/conversions",
  tags: ["Reports"],
  security: [{ bearerAuth: [] }],
  summary: "Conversion metrics",
  description:
    "Conversions by type, by step and over time, and the converting visitors, newest first, paginated.",
  request: {
    params: funnelParam,
    query: bucketedQuery.extend({
      page: z.coerce.number().int().min(1).default(1).openapi({ description: "From 1" }),
      page_size: z.coerce
        .number()
        .int()
        .min(1)
        .max(MAX_PAGE_SIZE)
        .default(50)
        .openapi({ description: `Rows of converting_visitors per page, at most ${MAX_PAGE_SIZE}` }),
    }),
  },
  responses: {
    200: { description: "The conversion metrics", content: { "application/json": { schema: response } } },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi({ ...conversionsRoute, middleware: [requireApiKey(deps)] }, async (c) => {
    const { page, page_size, ...query } = c.req.valid("query");
    const view = await getConversions(deps, c.get("scope"), {
      funnelId: c.req.valid("param").funnel_id,
      page,
      pageSize: page_size,
      ...query,
    });
    return c.json(view, 200);
  });
};

export default register;
