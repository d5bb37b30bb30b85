import type { FieldError } from "@funnel/events";

/** Domain errors: they say what went wrong, not which HTTP status it is. http/errors.ts maps them. */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string) {
    super("NOT_FOUND", `${what} not found`);
  }
}

export class InvalidError extends DomainError {
  constructor(message: string, details?: FieldError[] | unknown) {
    super("INVALID", message, details);
  }
}

export class LimitExceededError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super("RATE_LIMITED", message);
  }
}

export class UnauthorizedError extends DomainError {
  constructor(message = "missing or invalid API key") {
    super("UNAUTHORIZED", message);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message: string) {
    super("FORBIDDEN", message);
  }
}

/** Existed, but no longer (an expired export link). */
export class GoneError extends DomainError {
  constructor(message: string) {
    super("GONE", message);
  }
}

export class PayloadTooLargeError extends DomainError {
  constructor(limitBytes: number) {
    super("PAYLOAD_TOO_LARGE", `request body exceeds ${limitBytes} bytes`);
  }
}

export class UnavailableError extends DomainError {
  constructor(message: string) {
    super("UNAVAILABLE", message);
  }
}
