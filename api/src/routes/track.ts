import { LIMITS } from "@funnel/events";
import { createRoute } from "@hono/zod-openapi";
import { cors } from "hono/cors";
import { errorResponses } from "../http/errors";
import { clientIp } from "../infra/client-ip";
import { acceptTrack } from "../ingest/accept";
import {
  type CheckedAcceptResponse,
  checkedAcceptResponse,
  eventsBody,
  parseJson,
  readBodyText,
  trackBodyMaxEvents,
} from "../ingest/http";
import type { RegisterRoute } from "./index";

const PATH = "/api/v1/analytics/track";

export const route = createRoute({
  method: "post",
  path: PATH,
  tags: ["Tracking"],
  summary: "Track events from a browser",
  description:
    "No API key. One event or `{ events: [...] }` (up to 100). Rate limited per client IP, counted in events. " +
    "Answers 202 once the events are durably queued; invalid events are listed by index and kept for operators. " +
    "Accepted events that no report will count (a funnel the catalog does not have, a known bot's user agent, a " +
    "step the funnel does not have) are listed by index in `not_counted`, with the reason. " +
    "Refunds are refused here (by index, naming `event_type`): they come from the merchant's server, on `/import`.",
  request: {
    body: { required: true, content: { "application/json": { schema: eventsBody(trackBodyMaxEvents) } } },
  },
  responses: {
    202: { description: "Queued", content: { "application/json": { schema: checkedAcceptResponse } } },
    ...errorResponses(400, 413, 429, 503),
  },
});

const register: RegisterRoute = (app, deps) => {
  // The body is parsed here rather than by the route validator: per-index errors, and sendBeacon's
  // text/plain bodies, need the raw text.
  app.openAPIRegistry.registerPath(route);
  app.use(
    PATH,
    cors({ origin: "*", allowMethods: ["POST", "OPTIONS"], allowHeaders: ["content-type"], maxAge: 86_400 }),
  );
  app.post(PATH, async (c) => {
    const body = parseJson(await readBodyText(c, deps.config.TRACK_BODY_LIMIT_BYTES));
    const result: CheckedAcceptResponse = await acceptTrack(deps, body, {
      ip: clientIp(c, deps.config),
      // The header is the browser's, not a body field to refuse: kept to the column's length.
      userAgent: c.req.header("user-agent")?.slice(0, LIMITS.userAgentLength),
      receivedAt: new Date(),
    });
    return c.json(result, 202);
  });
};

export default register;
