import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "../deps";
import {
  DomainError,
  ForbiddenError,
  InvalidError,
  LimitExceededError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnavailableError,
} from "../errors";

/** The one JSON error body of every route. */
export const errorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
    request_id: z.string(),
  }),
});

export type ErrorBody = z.infer<typeof errorBody>;

function statusOf(error: DomainError): ContentfulStatusCode {
  if (error instanceof NotFoundError) return 404;
  if (error instanceof InvalidError) return 400;
  if (error instanceof LimitExceededError) return 429;
  if (error instanceof UnauthorizedError) return 401;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof PayloadTooLargeError) return 413;
  if (error instanceof UnavailableError) return 503;
  return 500;
}

export function errorResponse(c: Context<AppEnv>, error: DomainError) {
  const status = statusOf(error);
  if (error instanceof LimitExceededError) c.header("Retry-After", String(error.retryAfterSeconds));
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

/** Anything that is not a domain error is a bug: log it, answer a JSON 500 without internals. */
export function toErrorResponse(c: Context<AppEnv>, error: unknown) {
  if (error instanceof DomainError) return errorResponse(c, error);
  return errorResponse(c, new DomainError("INTERNAL", "internal error"));
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
