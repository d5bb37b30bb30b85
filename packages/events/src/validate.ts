import type { z } from "zod";
import { isServerOnly, SERVER_ONLY_MESSAGE } from "./browser";
import {
  type AcceptedEvent,
  type Enrichment,
  type FieldError,
  LIMITS,
  type RejectedEvent,
  type RequestContext,
  type TrackEvent,
  trackEvent,
} from "./schema";

/** Events older than the retention window would be dropped at once; refuse them up front. */
export const RETENTION_DAYS = 396;

export type BatchParse = { ok: true; events: unknown[] } | { ok: false; errors: FieldError[] };

/** A body is one event object or `{ "events": [...] }` with at most `max` items. */
export function splitBody(body: unknown, max: number): BatchParse {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return {
      ok: false,
      errors: [{ field: "body", message: "must be an event object or { events: [...] }" }],
    };
  }
  if (!("events" in body)) return { ok: true, events: [body] };
  const events = (body as { events: unknown }).events;
  if (!Array.isArray(events)) {
    return { ok: false, errors: [{ field: "events", message: "must be an array of events" }] };
  }
  if (events.length === 0) {
    return { ok: false, errors: [{ field: "events", message: "must contain at least one event" }] };
  }
  if (events.length > max) {
    return { ok: false, errors: [{ field: "events", message: `must contain at most ${max} events` }] };
  }
  return { ok: true, events };
}

export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.join(".") : "event",
    message: issue.message,
  }));
}

/** Event time per METRICS.md: the client's timestamp unless it is more than 5 minutes ahead. */
export function resolveEventTime(timestamp: string | undefined, receivedAt: Date): Date {
  if (timestamp === undefined) return receivedAt;
  const t = new Date(timestamp);
  return t.getTime() > receivedAt.getTime() + LIMITS.futureSkewMs ? receivedAt : t;
}

export interface ValidatedBatch {
  accepted: AcceptedEvent[];
  rejected: RejectedEvent[];
}

export interface ValidateOptions {
  context: RequestContext;
  /**
   * A browser's `/track` request (the API's or the edge's): an `ip_address` in the body is ignored
   * (the request's own IP counts), and an event only the merchant's server may send (a refund) is
   * refused, naming `event_type`.
   */
  fromBrowser: boolean;
  /** Enrichment computed once per request by the edge; null lets the ingest worker do it. */
  enrichment?: Enrichment | null;
  newId: () => string;
}

export function validateEvents(items: unknown[], options: ValidateOptions): ValidatedBatch {
  const accepted: AcceptedEvent[] = [];
  const rejected: RejectedEvent[] = [];
  const oldest = options.context.receivedAt.getTime() - RETENTION_DAYS * 86_400_000;
  items.forEach((raw, index) => {
    if (options.fromBrowser && isServerOnly(raw)) {
      rejected.push({ index, errors: [{ field: "event_type", message: SERVER_ONLY_MESSAGE }], raw });
      return;
    }
    const parsed = trackEvent.safeParse(raw);
    if (!parsed.success) {
      rejected.push({ index, errors: fieldErrors(parsed.error), raw });
      return;
    }
    const occurredAt = resolveEventTime(parsed.data.timestamp, options.context.receivedAt);
    if (occurredAt.getTime() < oldest) {
      rejected.push({
        index,
        errors: [{ field: "timestamp", message: `must be within the last ${RETENTION_DAYS} days` }],
        raw,
      });
      return;
    }
    accepted.push(toAccepted(parsed.data, occurredAt, options));
  });
  return { accepted, rejected };
}

function toAccepted(event: TrackEvent, occurredAt: Date, options: ValidateOptions): AcceptedEvent {
  const { context } = options;
  const ip = options.fromBrowser ? context.ip : (event.ip_address ?? context.ip);
  return {
    event_id: event.event_id ?? options.newId(),
    event_type: event.event_type,
    funnel_id: event.funnel_id,
    session_id: event.session_id,
    visitor_id: event.visitor_id,
    occurred_at: occurredAt.toISOString(),
    received_at: context.receivedAt.toISOString(),
    page_id: event.page_id ?? null,
    funnel_step_id: "funnel_step_id" in event ? event.funnel_step_id : null,
    previous_step_id: event.event_type === "step_entry" ? (event.previous_step_id ?? null) : null,
    next_step_id: event.event_type === "step_exit" ? (event.next_step_id ?? null) : null,
    exit_outcome: event.event_type === "step_exit" ? event.exit_outcome : null,
    conversion_type: event.event_type === "conversion" ? event.conversion_type : null,
    value_cents: "value_cents" in event ? (event.value_cents ?? null) : null,
    conversion_goal_id: event.event_type === "conversion" ? (event.conversion_goal_id ?? null) : null,
    order_id: "order_id" in event ? (event.order_id ?? null) : null,
    variant_id: event.variant_id ?? null,
    url: event.url ?? null,
    referrer: event.referrer ?? null,
    utm_source: event.utm_source ?? null,
    utm_medium: event.utm_medium ?? null,
    utm_campaign: event.utm_campaign ?? null,
    user_agent: event.user_agent ?? context.userAgent ?? null,
    ip_address: ip ?? null,
    metadata: event.metadata ?? {},
    enrichment: options.enrichment ?? null,
  };
}
