import { isDatabaseBusy, isDatabaseUnavailable } from "@funnel/db/client";
import type { HttpBindings } from "@hono/node-server";
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode, UnofficialStatusCode } from "hono/utils/http-status";
import type { Logger } from "pino";
import type { AppEnv } from "../deps";
import {
  DomainError,
  ForbiddenError,
  GoneError,
  InvalidError,
  LimitExceededError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnavailableError,
} from "../errors";
import { isRedisUnavailable } from "../infra/redis-errors";

/** The one JSON error body of every route. */
export const errorBody = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.unknown().optional(),
      request_id: z.string(),
    }),
  })
  .openapi("Error");

export type ErrorBody = z.infer<typeof errorBody>;

function statusOf(error: DomainError): ContentfulStatusCode {
  if (error instanceof NotFoundError) return 404;
  if (error instanceof InvalidError) return 400;
  if (error instanceof LimitExceededError) return 429;
  if (error instanceof UnauthorizedError) return 401;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof GoneError) return 410;
  if (error instanceof PayloadTooLargeError) return 413;
  if (error instanceof UnavailableError) return 503;
  return 500;
}

export function errorResponse(c: Context<AppEnv>, error: DomainError) {
  const status = statusOf(error);
  if (error instanceof LimitExceededError) c.header("Retry-After", String(error.retryAfterSeconds));
  // Refused before its body was read whole (too large, unsigned, no key): closing the connection
  // spares reading, only to discard it, the rest of a body the client may keep sending.
  const incoming = incomingOf(c);
  if (incoming !== undefined && !incoming.complete) c.header("Connection", "close");
  const body: ErrorBody = {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
      request_id: c.get("requestId") ?? "",
    },
  };
  return c.json(body, status);
}

/** Errors that are answers, not bugs: domain errors, Hono's own 4xx, a saturated database pool. */
export function isExpectedError(error: unknown): boolean {
  return (
    error instanceof DomainError ||
    (error instanceof HTTPException && error.status < 500) ||
    isDatabaseBusy(error)
  );
}

/** Anything else is a bug: the caller logs it, and the answer is a JSON 500 without internals. */
export function toErrorResponse(c: Context<AppEnv>, error: unknown) {
  if (error instanceof DomainError) return errorResponse(c, error);
  if (isDatabaseBusy(error)) return errorResponse(c, new UnavailableError("database busy, try again"));
  // An outage of the database or Redis (a restart, a failover) is a 503 a client retries, not a 500.
  if (isDatabaseUnavailable(error))
    return errorResponse(c, new UnavailableError("database unavailable, try again"));
  if (isRedisUnavailable(error))
    return errorResponse(c, new UnavailableError("redis unavailable, try again"));
  if (error instanceof HTTPException && error.status === 400) {
    return errorResponse(
      c,
      new InvalidError("invalid request body", [{ field: "body", message: "must be valid JSON" }]),
    );
  }
  if (error instanceof HTTPException && error.status < 500) {
    const code = error.status === 415 ? "UNSUPPORTED_MEDIA_TYPE" : "HTTP_ERROR";
    const body: ErrorBody = { error: { code, message: error.message, request_id: c.get("requestId") ?? "" } };
    return c.json(body, error.status);
  }
  return errorResponse(c, new DomainError("INTERNAL", "internal error"));
}

function incomingOf(c: Context): HttpBindings["incoming"] | undefined {
  return (c.env as Partial<HttpBindings> | undefined)?.incoming;
}

/** nginx's "client closed request": not an HTTP answer anyone receives, a label for the metrics. */
export const CLIENT_CLOSED_REQUEST = 499;

/**
 * Whether the client went away before its request was read whole (an upload aborted): the socket
 * was reset under the body (Node's `aborted` error, ECONNRESET) or the connection closed early.
 * Not a fault of ours, and not a 503 (an ECONNRESET otherwise reads as a Redis outage).
 */
export function clientClosedRequest(c: Context): boolean {
  const incoming = incomingOf(c);
  if (incoming === undefined) return c.req.raw.signal.aborted;
  if (incoming.complete) return false;
  const code = (incoming.errored as { code?: unknown } | null)?.code;
  return code === "ECONNRESET" || c.req.raw.signal.aborted;
}

/** Counts the request under 499 and logs one line without a stack: it is the client's doing. */
export function clientClosedResponse(c: Context<AppEnv>, logger: Logger): Response {
  logger.info(
    { request_id: c.get("requestId"), method: c.req.method, path: c.req.routePath },
    "client closed request",
  );
  return c.body(null, CLIENT_CLOSED_REQUEST as UnofficialStatusCode);
}

/** The error responses every route documents, from one shared set. */
export function errorResponses(...statuses: (400 | 401 | 403 | 404 | 410 | 413 | 429 | 503)[]) {
  const descriptions: Record<number, string> = {
    400: "Invalid input; `details` names each field",
    401: "Missing or invalid API key",
    403: "Forbidden",
    404: "Not found (also for another account's resources)",
    410: "Gone",
    413: "Request body too large",
    429: "Rate limited; see Retry-After",
    503: "A dependency is unavailable",
  };
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      { description: descriptions[s] ?? "Error", content: { "application/json": { schema: errorBody } } },
    ]),
  );
}
