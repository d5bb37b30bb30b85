import { createRoute } from "@hono/zod-openapi";
import { requireApiKey } from "../http/auth";
import { errorResponses } from "../http/errors";
import { acceptImport } from "../ingest/accept";
import {
  type CheckedAcceptResponse,
  checkedAcceptResponse,
  eventsBody,
  importBodyMaxEvents,
  parseJson,
  readBodyText,
} from "../ingest/http";
import type { RegisterRoute } from "./index";

const PATH = "/api/v1/analytics/import";

export const route = createRoute({
  method: "post",
  path: PATH,
  tags: ["Tracking"],
  summary: "Import events (back-fills, server-side sources)",
  description:
    "Up to 10,000 events with timestamps into the key's account; no per-IP limit. `ip_address` and `user_agent` " +
    "in the body are used as given. Events of a funnel that is not the account's are kept aside as `unknown_funnel`; " +
    "they, events with a known bot's user agent and events of a step the funnel does not have are listed by index " +
    "in `not_counted`.",
  security: [{ bearerAuth: [] }],
  request: {
    body: { required: true, content: { "application/json": { schema: eventsBody(importBodyMaxEvents) } } },
  },
  responses: {
    202: { description: "Queued", content: { "application/json": { schema: checkedAcceptResponse } } },
    ...errorResponses(400, 401, 413, 503),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openAPIRegistry.registerPath(route);
  app.post(PATH, requireApiKey(deps), async (c) => {
    const body = parseJson(await readBodyText(c, deps.config.IMPORT_BODY_LIMIT_BYTES));
    const result: CheckedAcceptResponse = await acceptImport(deps, c.get("scope"), body);
    return c.json(result, 202);
  });
};

export default register;
