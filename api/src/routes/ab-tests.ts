import { createRoute, z } from "@hono/zod-openapi";
import { requireApiKey } from "../http/auth";
import { BODY_LIMIT_BYTES, limitBody } from "../http/body-limit";
import { errorResponses } from "../http/errors";
import { createAbTest } from "../services/catalog/create-ab-test";
import { deleteAbTest } from "../services/catalog/delete-ab-test";
import { getAbTest } from "../services/catalog/get-ab-test";
import { listAbTests } from "../services/catalog/list-ab-tests";
import { putAbTest } from "../services/catalog/put-ab-test";
import { AB_TEST_STATUSES, type AbTestView } from "../services/catalog/views";
import type { RegisterRoute } from "./index";

/** A/B tests of the account's funnels, pushed by the funnel builder; the A/B report reads them. */

const tags = ["Catalog"];
const security = [{ bearerAuth: [] }];

const testParams = z.object({
  test_id: z.uuid().openapi({ param: { name: "test_id", in: "path" }, description: "The test's id" }),
});

const variantFields = {
  id: z.uuid(),
  variant_name: z.string().min(1).max(100),
  is_control: z.boolean(),
  traffic_split: z
    .number()
    .int()
    .min(0)
    .max(100)
    .openapi({ description: "Percent of traffic; the variants' splits sum to 100" }),
};

/** A test's fields with `variant` items: the PUT's body with ids, the POST's without. */
const abTestFields = <V extends z.ZodType>(variant: V) =>
  z.object({
    funnel_id: z.uuid().openapi({ description: "One of the account's funnels" }),
    test_name: z.string().min(1).max(255),
    status: z.enum(AB_TEST_STATUSES),
    started_at: z.iso.datetime({ offset: true }),
    completed_at: z.iso.datetime({ offset: true }).nullable().optional(),
    variants: z
      .array(variant)
      .min(2)
      .max(20)
      .openapi({ description: "Exactly one control; traffic splits sum to 100" }),
  });

const variantInput = z
  .object({
    ...variantFields,
    page_id: z.uuid().openapi({ description: "A page of the test's funnel" }),
  })
  .openapi("AbTestVariantInput");

export const abTestBody = abTestFields(variantInput).openapi("AbTestInput");

/** The PUT's body without ids: the API gives the test and its variants theirs. */
export const newAbTestBody = abTestFields(
  variantInput.omit({ id: true }).openapi("NewAbTestVariant"),
).openapi("NewAbTestInput");

export const abTestView = z
  .object({
    id: z.uuid(),
    funnel_id: z.uuid(),
    test_name: z.string(),
    status: z.enum(AB_TEST_STATUSES),
    started_at: z.iso.datetime(),
    completed_at: z.iso.datetime().nullable(),
    winner_variant_id: z.uuid().nullable(),
    variants: z.array(
      z
        .object({
          ...variantFields,
          page_id: z
            .uuid()
            .nullable()
            .openapi({ description: "null once the page was removed from the funnel" }),
        })
        .openapi("AbTestVariant"),
    ),
    created_at: z.iso.datetime(),
  })
  .openapi("AbTest");

export const putAbTestRoute = createRoute({
  method: "put",
  path: "/api/v1/ab-tests/{test_id}",
  tags,
  security,
  summary: "Create or replace an A/B test",
  description:
    "Idempotent. Stores the test with exactly the variants listed. The funnel must be the account's (404 " +
    "otherwise), each variant's page one of that funnel's pages, exactly one variant the control, and the " +
    "traffic splits whole percentages summing to 100. A test id that another account uses or once used (ids " +
    "stay bound to their account after a delete) is refused with 404, such a variant id is a 400 naming it; " +
    "neither is ever overwritten.",
  request: {
    params: testParams,
    body: { required: true, content: { "application/json": { schema: abTestBody } } },
  },
  responses: {
    200: { description: "The stored test", content: { "application/json": { schema: abTestView } } },
    ...errorResponses(400, 401, 404, 413),
  },
});

export const createAbTestRoute = createRoute({
  method: "post",
  path: "/api/v1/ab-tests",
  tags,
  security,
  summary: "Create an A/B test",
  description:
    "Creates a test of one of the account's funnels, giving it and each variant a new id: the answer carries " +
    "them (events may name a variant by `variant_id`). Each variant's `page_id` is one of the funnel's pages, " +
    "as the funnel's GET or POST answer lists them. The body is the PUT's without ids (any test or variant id " +
    "sent is ignored), checked alike: the " +
    "funnel must be the account's (404 otherwise), exactly one variant the control, and the splits whole " +
    "percentages summing to 100. A funnel builder that keeps its own ids syncs with PUT instead.",
  request: {
    body: { required: true, content: { "application/json": { schema: newAbTestBody } } },
  },
  responses: {
    201: {
      description: "The created test",
      headers: z.object({
        Location: z.string().openapi({ description: "The test's URL: /api/v1/ab-tests/{test_id}" }),
      }),
      content: { "application/json": { schema: abTestView } },
    },
    ...errorResponses(400, 401, 404, 413),
  },
});

export const listAbTestsRoute = createRoute({
  method: "get",
  path: "/api/v1/ab-tests",
  tags,
  security,
  summary: "List the account's A/B tests",
  request: {
    query: z.object({
      funnel_id: z.uuid().optional().openapi({ description: "Only the tests of this funnel" }),
    }),
  },
  responses: {
    200: {
      description: "The account's tests, oldest first",
      content: { "application/json": { schema: z.object({ ab_tests: z.array(abTestView) }) } },
    },
    ...errorResponses(400, 401),
  },
});

export const getAbTestRoute = createRoute({
  method: "get",
  path: "/api/v1/ab-tests/{test_id}",
  tags,
  security,
  summary: "Get an A/B test",
  request: { params: testParams },
  responses: {
    200: { description: "The test", content: { "application/json": { schema: abTestView } } },
    ...errorResponses(400, 401, 404),
  },
});

export const deleteAbTestRoute = createRoute({
  method: "delete",
  path: "/api/v1/ab-tests/{test_id}",
  tags,
  security,
  summary: "Delete an A/B test",
  request: { params: testParams },
  responses: {
    204: { description: "Deleted" },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  const middleware = [requireApiKey(deps)];
  const withBody = [...middleware, limitBody(BODY_LIMIT_BYTES.abTest)];

  app.openapi({ ...putAbTestRoute, middleware: withBody }, async (c) => {
    const { test_id } = c.req.valid("param");
    const test: AbTestView = await putAbTest(deps, c.get("scope"), { id: test_id, ...c.req.valid("json") });
    return c.json(test, 200);
  });

  app.openapi({ ...createAbTestRoute, middleware: withBody }, async (c) => {
    const test: AbTestView = await createAbTest(deps, c.get("scope"), c.req.valid("json"));
    c.header("Location", `/api/v1/ab-tests/${test.id}`);
    return c.json(test, 201);
  });

  app.openapi({ ...listAbTestsRoute, middleware }, async (c) => {
    const abTests = await listAbTests(deps, c.get("scope"), c.req.valid("query"));
    return c.json({ ab_tests: abTests }, 200);
  });

  app.openapi({ ...getAbTestRoute, middleware }, async (c) => {
    const test = await getAbTest(deps, c.get("scope"), { id: c.req.valid("param").test_id });
    return c.json(test, 200);
  });

  app.openapi({ ...deleteAbTestRoute, middleware }, async (c) => {
    await deleteAbTest(deps, c.get("scope"), { id: c.req.valid("param").test_id });
    return c.body(null, 204);
  });
};

export default register;
