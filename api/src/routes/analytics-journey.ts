import { createRoute, z } from "@hono/zod-openapi";
import { requireApiKey } from "../http/auth";
import { errorResponses } from "../http/errors";
import { count } from "../http/report-schemas";
import { getVisitorJourney } from "../services/analytics/journey";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-13: a visitor's journey, session by session. */

const visitorParam = z.object({
  visitor_id: z.uuid().openapi({
    param: { name: "visitor_id", in: "path" },
    description: "The visitor's id (the tracker's cookie)",
  }),
});

const journeyEvent = z
  .object({
    event_id: z.uuid(),
    event_type: z.string(),
    page_id: z.uuid().nullable(),
    step_id: z.uuid().nullable(),
    url: z.string().nullable(),
    timestamp: z.iso.datetime().openapi({ description: "Event time" }),
    metadata: z.record(z.string(), z.unknown()).openapi({ description: "As sent with the event" }),
  })
  .openapi("JourneyEvent");

const journeySession = z
  .object({
    session_id: z.string(),
    funnel_id: z.uuid(),
    started_at: z.iso.datetime().openapi({ description: "Time of the session's first event" }),
    ended_at: z.iso.datetime().nullable().openapi({
      description: "Time of its last event; null while the session is open (an event in the last 30 minutes)",
    }),
    entry_page: z.string().nullable().openapi({ description: "URL of its first page_view; null when none" }),
    exit_page: z
      .string()
      .nullable()
      .openapi({ description: "URL of its last page_view; null while open or when none" }),
    page_views: count("page_view events"),
    time_spent_seconds: count("Last event − first event, in seconds"),
    conversions: count("Conversion events"),
    events: z.array(journeyEvent).openapi({ description: "Oldest first" }),
  })
  .openapi("JourneySession");

const response = z
  .object({
    visitor_id: z.uuid(),
    first_seen_at: z.iso.datetime(),
    last_seen_at: z.iso.datetime(),
    total_sessions: count("Sessions listed"),
    total_page_views: count("page_view events of those sessions"),
    total_conversions: count("Conversion events of those sessions"),
    sessions: z.array(journeySession).openapi({ description: "Newest first (by started_at)" }),
  })
  .openapi("VisitorJourney");

export const journeyRoute = createRoute({
  method: "get",
  path: "/api/v1/analytics/visitors/{visitor_id}/journey",
  tags: ["Visitors"],
  security: [{ bearerAuth: [] }],
  summary: "Visitor journey",
  description:
    "Every session of the visitor in the key's account (a session is one session_id in one funnel), with " +
    "its events; bots left out. 404 for a visitor with no such event: unknown, another account's, or " +
    "anonymised after a consent withdrawal (or, with funnel_id, none in that funnel).",
  request: {
    params: visitorParam,
    query: z.object({
      funnel_id: z.uuid().optional().openapi({ description: "Only the sessions of this funnel" }),
    }),
  },
  responses: {
    200: { description: "The journey", content: { "application/json": { schema: response } } },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi({ ...journeyRoute, middleware: [requireApiKey(deps)] }, async (c) => {
    const journey = await getVisitorJourney(deps, c.get("scope"), {
      visitorId: c.req.valid("param").visitor_id,
      funnelId: c.req.valid("query").funnel_id,
    });
    return c.json(journey, 200);
  });
};

export default register;
