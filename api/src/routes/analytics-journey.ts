import { CONVERSION_TYPES } from "@funnel/events";
import { createRoute, z } from "@hono/zod-openapi";
import { requireApiKey } from "../http/auth";
import { errorResponses } from "../http/errors";
import { count } from "../http/report-schemas";
import {
  getVisitorJourney,
  JOURNEY_DEFAULT_LIMIT,
  JOURNEY_MAX_LIMIT,
  JOURNEY_PAGE_BYTES,
} from "../services/analytics/journey";
import type { RegisterRoute } from "./index";

/** REQ-FUN-004-13: a visitor's journey, session by session, a page at a time. */

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
    conversion_type: z.enum(CONVERSION_TYPES).nullable().openapi({
      description: "The conversion's type; null on every other event",
    }),
    value_cents: z
      .number()
      .int()
      .nullable()
      .openapi({
        description:
          "A conversion's value, or the amount a refund asks (what counts is in the revenue report); " +
          "null on other events and on a conversion sent without one",
      }),
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
    total_events: count("Events of the whole session; a page may hold only part of them"),
    events: z.array(journeyEvent).openapi({
      description:
        "Oldest first: the session's events on this page (a session cut at a page's end goes on in the next)",
    }),
  })
  .openapi("JourneySession");

const response = z
  .object({
    visitor_id: z.uuid(),
    first_seen_at: z.iso.datetime(),
    last_seen_at: z.iso.datetime(),
    total_sessions: count("Sessions of the whole journey, on every page"),
    total_page_views: count("page_view events of those sessions"),
    total_conversions: count("Conversion events of those sessions"),
    total_events: count("Events of those sessions"),
    sessions: z.array(journeySession).openapi({ description: "Newest first (by started_at), this page's" }),
    next_cursor: z.string().nullable().openapi({
      description: "Pass as `cursor` for the next page; null on the last page",
    }),
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
    "its events; bots left out. Paginated by events: a page holds at most `limit` events and about " +
    `${JOURNEY_PAGE_BYTES / 1_048_576} MiB of JSON; a session that does not fit is cut and goes on in the next page, ` +
    "which `next_cursor` names. Totals and each session's figures are of the whole journey on every page. " +
    "404 for a visitor with no such event: unknown, another account's, or anonymised after a consent " +
    "withdrawal (or, with funnel_id, none in that funnel).",
  request: {
    params: visitorParam,
    query: z.object({
      funnel_id: z.uuid().optional().openapi({ description: "Only the sessions of this funnel" }),
      limit: z.coerce
        .number()
        .int()
        .min(1)
        .max(JOURNEY_MAX_LIMIT)
        .default(JOURNEY_DEFAULT_LIMIT)
        .openapi({
          description: `Events per page, at most ${JOURNEY_MAX_LIMIT}; default ${JOURNEY_DEFAULT_LIMIT}`,
        }),
      cursor: z.string().max(1024).optional().openapi({
        description: "`next_cursor` of the previous page, with the same visitor and funnel_id; opaque",
      }),
    }),
  },
  responses: {
    200: { description: "The journey", content: { "application/json": { schema: response } } },
    ...errorResponses(400, 401, 404),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi({ ...journeyRoute, middleware: [requireApiKey(deps)] }, async (c) => {
    const query = c.req.valid("query");
    const journey = await getVisitorJourney(deps, c.get("scope"), {
      visitorId: c.req.valid("param").visitor_id,
      funnelId: query.funnel_id,
      limit: query.limit,
      cursor: query.cursor,
    });
    return c.json(journey, 200);
  });
};

export default register;
