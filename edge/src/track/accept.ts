import { type FieldError, LIMITS, type RequestContext, splitBody, validateEvents } from "@funnel/events";
import { enrichUserAgent, rateLimitSubject, truncateIp } from "@funnel/events/enrich";
import { InvalidError, LimitExceededError, UnavailableError } from "../errors";
import { type ForwardMessage, packMessages } from "../forward/messages";
import type { TakeResult } from "../rate-limit/ip-rate-limiter";

/**
 * A browser's /track request at the edge: split, limit, validate, enrich, queue. The same steps
 * and errors as the API's `acceptTrack` (api/src/ingest/accept.ts); nothing here knows HTTP.
 */

export interface AcceptResult {
  accepted: number;
  rejected: { index: number; errors: FieldError[] }[];
}

export interface TrackDeps {
  eventsPerSecond: number;
  /** Takes `cost` events from the budget of one rate-limit subject. */
  take(subject: string, cost: number): Promise<TakeResult>;
  /** Resolves once the messages are durably queued. */
  enqueue(messages: ForwardMessage[]): Promise<void>;
  newId(): string;
}

export interface EdgeRequest {
  /** The client address Cloudflare saw (CF-Connecting-IP); never leaves the edge untruncated. */
  ip: string | undefined;
  userAgent: string | undefined;
  country: string | undefined;
  receivedAt: Date;
}

export async function acceptTrack(
  deps: TrackDeps,
  body: unknown,
  request: EdgeRequest,
): Promise<AcceptResult> {
  const parsed = splitBody(body, LIMITS.eventsPerTrackRequest);
  if (!parsed.ok) throw new InvalidError("invalid request body", parsed.errors);
  const limit = await deps.take(rateLimitSubject(request.ip), parsed.events.length);
  if (!limit.allowed) {
    throw new LimitExceededError(
      `more than ${deps.eventsPerSecond} events per second from this address`,
      limit.retryAfterSeconds,
    );
  }
  const context: RequestContext = {
    ip: request.ip === undefined ? undefined : truncateIp(request.ip),
    userAgent: request.userAgent,
    country: request.country,
    receivedAt: request.receivedAt,
  };
  // A browser cannot choose the IP it is counted under: the body's ip_address is ignored. Nor can
  // it send a refund: those come from the merchant's server, on the API's /import.
  const batch = validateEvents(parsed.events, {
    context,
    fromBrowser: true,
    enrichment: enrichUserAgent(request.userAgent, request.country ?? null),
    newId: deps.newId,
  });
  const rejected = batch.rejected.map(({ index, errors }) => ({ index, errors }));
  try {
    await deps.enqueue(packMessages({ events: batch.accepted, rejected: batch.rejected }));
  } catch (error) {
    console.error(
      JSON.stringify({ msg: "enqueue failed", error: String(error), events: batch.accepted.length }),
    );
    throw new UnavailableError("the ingest queue is unavailable; retry later");
  }
  // Nothing valid in a non-empty body is the client's error; the refused events are kept anyway.
  if (batch.accepted.length === 0) throw new InvalidError("no valid event in the request", rejected);
  return { accepted: batch.accepted.length, rejected };
}
