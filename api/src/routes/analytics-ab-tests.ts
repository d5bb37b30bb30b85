import { createRoute, z } from "@hono/zod-openapi";
import { requireApiKey } from "../http/auth";
import { errorResponses } from "../http/errors";
import { funnelParam, periodOnlyQuery } from "../http/report-schemas";
import { type AbTestResultsView, getAbTestResults } from "../services/analytics/ab-test-results";
import { AB_TEST_STATUSES } from "../services/catalog/views";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-09: A/B test results of a funnel, with the statistics METRICS.md defines. */

const probability = (description: string) => z.number().min(0).max(1).nullable().openapi({ description });

const variantResult = z
  .object({
    variant_id: z.uuid(),
    variant_name: z.string(),
    is_control: z.boolean(),
    traffic_split: z
      .number()
      .int()
      .openapi({ description: "Percent of traffic the test meant to send here" }),
    expected_visitors: z.number().openapi({ description: "Exposed visitors the split predicts" }),
    visitors: z.number().int().openapi({ description: "Exposed distinct visitors (bots excluded)" }),
    conversions: z.number().int().openapi({
      description: "Exposed visitors with a conversion in the funnel at or after their exposure",
    }),
    conversion_rate: z.number().openapi({ description: "conversions ÷ visitors, 4 decimals" }),
    revenue_cents: z.number().int().openapi({ description: "Sum of those conversions' values" }),
    avg_revenue_per_visitor_cents: z.number().int(),
    improvement_vs_control: z.number().nullable().openapi({
      description: "(rate − control rate) ÷ control rate; null for the control or a zero control rate",
    }),
    confidence: probability(
      "1 − p of a two-sided two-proportion z-test against the control; null for the control",
    ),
    p_value: probability("p of that z-test; null for the control"),
    confidence_adjusted: probability(
      "1 − Holm–Bonferroni adjusted p over the test's challengers; null for the control",
    ),
    significant: z.boolean().openapi({ description: "confidence_adjusted ≥ 0.95" }),
    revenue_per_visitor: z
      .object({
        mean_cents: z.number().openapi({ description: "Mean revenue per exposed visitor, 2 decimals" }),
        improvement_vs_control: z.number().nullable(),
        confidence: probability("1 − p of Welch's t-test against the control; null for the control"),
        p_value: probability("p of that t-test; null for the control"),
      })
      .openapi({ description: "So that a variant which converts more but earns less shows" }),
  })
  .openapi("AbTestVariantResult");

const testResult = z
  .object({
    test_id: z.uuid(),
    test_name: z.string(),
    status: z.enum(AB_TEST_STATUSES),
    started_at: z.iso.datetime(),
    completed_at: z.iso.datetime().nullable(),
    window: z
      .object({ start: z.iso.datetime(), end: z.iso.datetime() })
      .nullable()
      .openapi({ description: "The part of the period inside the test's run; null when none" }),
    variants: z.array(variantResult).openapi({ description: "Control first" }),
    winner: z
      .object({ variant_id: z.uuid(), reason: z.string() })
      .nullable()
      .openapi({
        description:
          "Set only when a variant is significant at 95 % after Holm–Bonferroni and converts best (or every " +
          "challenger is significantly worse: the control), and the split shows no sample-ratio mismatch",
      }),
    conclusion: z.string().openapi({ description: "The outcome with its figures, winner or not" }),
    sample_ratio_mismatch: z
      .object({
        detected: z.boolean(),
        chi_square: z.number().nullable().openapi({ description: "null when a 0 % variant got visitors" }),
        degrees_of_freedom: z.number().int(),
        p_value: z.number(),
        threshold: z.number(),
      })
      .openapi({
        description: "Chi-square of exposed visitors against traffic_split; detected at p < 0.001",
      }),
  })
  .openapi("AbTestResult");

const response = z
  .object({
    funnel_id: z.uuid(),
    period: z.object({ start: z.iso.datetime(), end: z.iso.datetime(), time_zone: z.string() }),
    tests: z.array(testResult).openapi({ description: "Empty when the funnel has no tests" }),
  })
  .openapi("AbTestResults");

export const abTestResultsRoute = createRoute({
  method: "get",
  path: "/api/v1/analytics/funnels/{funnel_id}/ab-tests",
  tags: ["Reports"],
  security: [{ bearerAuth: [] }],
  summary: "A/B test results of a funnel",
  description:
    "Per variant: exposed visitors, conversions, revenue, improvement and confidence against the control " +
    "(METRICS.md). A visitor is exposed to the variant whose page (or `variant_id`) it saw first in the " +
    "funnel during the test and the period. Winner only when significant at 95 % after Holm–Bonferroni.",
  request: {
    params: funnelParam,
    query: periodOnlyQuery.extend({
      test_id: z
        .uuid()
        .optional()
        .openapi({ description: "Only this test (404 when not a test of the funnel)" }),
    }),
  },
  responses: {
    200: {
      description: "The funnel's tests with their results",
      content: { "application/json": { schema: response } },
    },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi({ ...abTestResultsRoute, middleware: [requireApiKey(deps)] }, async (c) => {
    const { funnel_id } = c.req.valid("param");
    const { test_id, ...period } = c.req.valid("query");
    const results: AbTestResultsView = await getAbTestResults(deps, c.get("scope"), {
      funnelId: funnel_id,
      testId: test_id,
      ...period,
    });
    return c.json(results, 200);
  });
};

export default register;
