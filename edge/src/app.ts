import { Hono } from "hono";
import { requestId } from "hono/request-id";
import type { EdgeEnv } from "./config";
import { DomainError, errorResponse, NotFoundError } from "./errors";
import { track } from "./routes/track";
import { trackerScript } from "./routes/tracker-script";

/** The edge worker's HTTP side: validate, limit, enrich, queue (routes/track.ts) and serve t.js. */
export function createApp(): Hono<EdgeEnv> {
  const app = new Hono<EdgeEnv>();
  app.use(requestId({ headerName: "x-request-id" }));
  app.onError((error, c) => {
    if (error instanceof DomainError) return errorResponse(c, error);
    // Logged without the request body or address; the answer carries no internals.
    console.error(
      JSON.stringify({ msg: "unhandled error", request_id: c.get("requestId"), error: String(error) }),
    );
    return errorResponse(c, new DomainError("INTERNAL", 500, "internal error"));
  });
  app.notFound((c) => errorResponse(c, new NotFoundError("route")));
  app.route("/", track);
  app.route("/", trackerScript);
  return app;
}
