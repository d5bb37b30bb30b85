import { LIMITS, nestsDeeperThan } from "@funnel/events";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { clientIp } from "../client-ip";
import { type EdgeEnv, loadConfig } from "../config";
import { InvalidError, PayloadTooLargeError } from "../errors";
import { sendGroups } from "../forward/messages";
import { acceptTrack, type TrackDeps } from "../track/accept";

export const TRACK_PATH = "/api/v1/analytics/track";
/** Same default as the API's TRACK_BODY_LIMIT_BYTES. */
export const TRACK_BODY_LIMIT_BYTES = 256 * 1024;

/**
 * `POST /api/v1/analytics/track`: the API's contract (one event or `{ events: [...] }`, up to 100;
 * 202 `{ accepted, rejected }`; 400/413/429/503 with the shared error body). The body is read as
 * text: sendBeacon sends `text/plain`, and per-index errors need the raw items.
 */
export const track = new Hono<EdgeEnv>();

track.use(
  TRACK_PATH,
  cors({
    origin: "*",
    allowMethods: ["POST", "OPTIONS"],
    allowHeaders: ["content-type"],
    // t.js reads Retry-After on a 429 to pace its retries; cross-origin it must be exposed.
    exposeHeaders: ["Retry-After"],
    maxAge: 86_400,
  }),
);

track.post(
  TRACK_PATH,
  bodyLimit({
    maxSize: TRACK_BODY_LIMIT_BYTES,
    onError: () => {
      throw new PayloadTooLargeError(TRACK_BODY_LIMIT_BYTES);
    },
  }),
  async (c) => {
    const config = loadConfig(c.env);
    const deps: TrackDeps = {
      eventsPerSecond: config.RATE_LIMIT_EVENTS_PER_SECOND,
      take: (subject, cost) =>
        c.env.RATE_LIMITER.getByName(subject).take(cost, config.RATE_LIMIT_EVENTS_PER_SECOND),
      enqueue: async (messages) => {
        for (const group of sendGroups(messages)) {
          await c.env.FORWARD_QUEUE.sendBatch(group.map((body) => ({ body, contentType: "json" })));
        }
      },
      newId: () => crypto.randomUUID(),
    };
    const cf = c.req.raw.cf as { country?: unknown } | undefined;
    const result = await acceptTrack(deps, parseJson(await c.req.text()), {
      ip: clientIp(c.req.raw, config),
      // The header is the browser's, not a body field to refuse: kept to the column's length, as the
      // API does, which refuses a longer user_agent in the batches it is forwarded.
      userAgent: c.req.header("user-agent")?.slice(0, LIMITS.userAgentLength),
      country: typeof cf?.country === "string" ? cf.country : undefined,
      receivedAt: new Date(),
    });
    return c.json(result, 202);
  },
);

/** As the API's: not JSON, or nested deeper than LIMITS.bodyDepth, is a 400 naming `body`. */
function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidError("request body is not JSON", [{ field: "body", message: "must be valid JSON" }]);
  }
  if (nestsDeeperThan(value, LIMITS.bodyDepth)) {
    throw new InvalidError("request body nests too deeply", [
      { field: "body", message: `must nest at most ${LIMITS.bodyDepth} levels of arrays and objects` },
    ]);
  }
  return value;
}
