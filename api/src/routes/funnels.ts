import { createRoute, z } from "@hono/zod-openapi";
import { requireApiKey } from "../http/auth";
import { BODY_LIMIT_BYTES, limitBody } from "../http/body-limit";
import { errorResponses } from "../http/errors";
import { createFunnel } from "../services/catalog/create-funnel";
import { deleteFunnel } from "../services/catalog/delete-funnel";
import { getFunnel } from "../services/catalog/get-funnel";
import { listFunnels } from "../services/catalog/list-funnels";
import { putFunnel } from "../services/catalog/put-funnel";
import type { FunnelView } from "../services/catalog/views";
import type { RegisterRoute } from "./index";

/** The funnel catalog: the funnel builder pushes funnels here so that reports can name steps and pages. */

const tags = ["Catalog"];
const security = [{ bearerAuth: [] }];

const funnelParams = z.object({
  funnel_id: z.uuid().openapi({ param: { name: "funnel_id", in: "path" }, description: "The funnel's id" }),
});

const step = z
  .object({
    id: z.uuid(),
    name: z.string().min(1).max(255),
    step_type: z.string().min(1).max(50).openapi({
      description: "As the funnel builder names it, e.g. optin, sales, checkout, upsell, thankyou",
    }),
    position: z.number().int().min(0).max(10_000).openapi({ description: "Order of the step in the funnel" }),
  })
  .openapi("FunnelStep");

const page = z
  .object({
    id: z.uuid(),
    name: z.string().min(1).max(255),
    url: z.string().max(2048).nullable(),
  })
  .openapi("FunnelPage");

/** A funnel's fields with `step` and `page` items: the PUT's body with ids, the POST's without. */
const funnelFields = <S extends z.ZodType, P extends z.ZodType>(stepItem: S, pageItem: P, pages: string) =>
  z.object({
    name: z.string().min(1).max(255),
    steps: z.array(stepItem).min(1).max(100),
    pages: z.array(pageItem).max(500).optional().openapi({ description: pages }),
  });

export const funnelBody = funnelFields(
  step,
  page,
  "Replaces the funnel's pages; leave out to keep them as they are",
).openapi("FunnelInput");

/** The PUT's body without ids: the API gives the funnel, its steps and its pages theirs. */
export const newFunnelBody = funnelFields(
  step.omit({ id: true }).openapi("NewFunnelStep"),
  page.omit({ id: true }).openapi("NewFunnelPage"),
  "The funnel's pages (A/B test variants and page_view events name them); leave out for none",
).openapi("NewFunnelInput");

export const funnelView = z
  .object({
    id: z.uuid(),
    name: z.string(),
    steps: z.array(step).openapi({ description: "In position order" }),
    pages: z.array(page),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .openapi("Funnel");

export const putFunnelRoute = createRoute({
  method: "put",
  path: "/api/v1/funnels/{funnel_id}",
  tags,
  security,
  summary: "Create or replace a funnel",
  description:
    "Idempotent. Stores the funnel with exactly the steps listed (steps no longer listed are removed) and, " +
    "when `pages` is given, exactly those pages. Step, page and funnel ids are the funnel builder's. " +
    "A funnel id that another account uses or once used (ids stay bound to their account after a delete) is " +
    "refused with 404; such a step or page id is a 400 naming it. Neither is ever overwritten.",
  request: {
    params: funnelParams,
    body: { required: true, content: { "application/json": { schema: funnelBody } } },
  },
  responses: {
    200: { description: "The stored funnel", content: { "application/json": { schema: funnelView } } },
    ...errorResponses(400, 401, 404, 413),
  },
});

export const createFunnelRoute = createRoute({
  method: "post",
  path: "/api/v1/funnels",
  tags,
  security,
  summary: "Create a funnel",
  description:
    "Creates a funnel with the steps and pages listed (none without `pages`), giving each of them and the " +
    "funnel a new id: the answer carries them, for the tracker's events (`funnel_id`, `funnel_step_id`, " +
    "`page_id`) and for A/B tests. The body is the PUT's without ids (any id sent is ignored), checked alike. " +
    "Not idempotent: each call creates another funnel. A funnel builder that keeps its own ids syncs with " +
    "PUT instead, which is.",
  request: {
    body: { required: true, content: { "application/json": { schema: newFunnelBody } } },
  },
  responses: {
    201: {
      description: "The created funnel",
      headers: z.object({
        Location: z.string().openapi({ description: "The funnel's URL: /api/v1/funnels/{funnel_id}" }),
      }),
      content: { "application/json": { schema: funnelView } },
    },
    ...errorResponses(400, 401, 413),
  },
});

export const listFunnelsRoute = createRoute({
  method: "get",
  path: "/api/v1/funnels",
  tags,
  security,
  summary: "List the account's funnels",
  responses: {
    200: {
      description: "The account's funnels with their steps and pages, oldest first",
      content: { "application/json": { schema: z.object({ funnels: z.array(funnelView) }) } },
    },
    ...errorResponses(401),
  },
});

export const getFunnelRoute = createRoute({
  method: "get",
  path: "/api/v1/funnels/{funnel_id}",
  tags,
  security,
  summary: "Get a funnel",
  request: { params: funnelParams },
  responses: {
    200: { description: "The funnel", content: { "application/json": { schema: funnelView } } },
    ...errorResponses(400, 401, 404),
  },
});

export const deleteFunnelRoute = createRoute({
  method: "delete",
  path: "/api/v1/funnels/{funnel_id}",
  tags,
  security,
  summary: "Delete a funnel",
  description:
    "Deletes the funnel with its steps, pages and A/B tests. Stored events stay; events that arrive for " +
    "the funnel afterwards are kept aside as `unknown_funnel`.",
  request: { params: funnelParams },
  responses: {
    204: { description: "Deleted" },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  const middleware = [requireApiKey(deps)];
  const withBody = [...middleware, limitBody(BODY_LIMIT_BYTES.funnel)];

  app.openapi({ ...putFunnelRoute, middleware: withBody }, async (c) => {
    const { funnel_id } = c.req.valid("param");
    const funnel: FunnelView = await putFunnel(deps, c.get("scope"), {
      id: funnel_id,
      ...c.req.valid("json"),
    });
    return c.json(funnel, 200);
  });

  app.openapi({ ...createFunnelRoute, middleware: withBody }, async (c) => {
    const funnel: FunnelView = await createFunnel(deps, c.get("scope"), c.req.valid("json"));
    c.header("Location", `/api/v1/funnels/${funnel.id}`);
    return c.json(funnel, 201);
  });

  app.openapi({ ...listFunnelsRoute, middleware }, async (c) => {
    const funnels = await listFunnels(deps, c.get("scope"));
    return c.json({ funnels }, 200);
  });

  app.openapi({ ...getFunnelRoute, middleware }, async (c) => {
    const funnel = await getFunnel(deps, c.get("scope"), { id: c.req.valid("param").funnel_id });
    return c.json(funnel, 200);
  });

  app.openapi({ ...deleteFunnelRoute, middleware }, async (c) => {
    await deleteFunnel(deps, c.get("scope"), { id: c.req.valid("param").funnel_id });
    return c.body(null, 204);
  });
};

export default register;
