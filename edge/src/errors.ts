import type { FieldError } from "@funnel/events";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { EdgeEnv } from "./config";

/**
 * The same error codes and JSON body as the API (api/src/errors.ts, api/src/http/errors.ts), so a
 * browser sees one contract whichever of the two answers its /track.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    readonly status: ContentfulStatusCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export class InvalidError extends DomainError {
  constructor(message: string, details?: FieldError[] | unknown) {
    super("INVALID", 400, message, details);
  }
}

export class LimitExceededError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super("RATE_LIMITED", 429, message);
  }
}

export class PayloadTooLargeError extends DomainError {
  constructor(limitBytes: number) {
    super("PAYLOAD_TOO_LARGE", 413, `request body exceeds ${limitBytes} bytes`);
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string) {
    super("NOT_FOUND", 404, `${what} not found`);
  }
}

export class UnavailableError extends DomainError {
  constructor(message: string) {
    super("UNAVAILABLE", 503, message);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown; request_id: string };
}

export function errorResponse(c: Context<EdgeEnv>, error: DomainError) {
  if (error instanceof LimitExceededError) c.header("Retry-After", String(error.retryAfterSeconds));
  const body: ErrorBody = {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
      request_id: c.get("requestId") ?? "",
    },
  };
  return c.json(body, error.status);
}
