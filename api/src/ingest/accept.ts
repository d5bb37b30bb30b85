import { randomUUID } from "node:crypto";
import {
  type FieldError,
  fieldErrors,
  isServerOnly,
  LIMITS,
  type RequestContext,
  SERVER_ONLY_MESSAGE,
  splitBody,
  type ValidatedBatch,
  validateEvents,
} from "@funnel/events";
import { rateLimitSubject } from "@funnel/events/enrich";
import { z } from "zod";
import type { AccountScope, Deps } from "../deps";
import { InvalidError, LimitExceededError, UnavailableError } from "../errors";
import type { IngestBatch } from "../ports";
import { rejectedItem, storedEvent } from "./batch-schema";
import { countIngested } from "./metrics";
import { type AcceptedAt, type NotCounted, notCounted } from "./not-counted";

/**
 * Accepting events: split the body, validate each event, queue ONE batch holding the accepted and
 * the refused ones (refused events are stored with their reasons), answer, saying which accepted
 * events will not be counted and why (not-counted.ts). Nothing here knows HTTP.
 */

export interface AcceptResult {
  accepted: number;
  rejected: { index: number; errors: FieldError[] }[];
}

/** The answer to a client (/track, /import): also the accepted events no report will count, by index. */
export interface CheckedAcceptResult extends AcceptResult {
  not_counted: NotCounted[];
}

type IngestDeps = Pick<Deps, "queue" | "metrics" | "logger">;
type CheckingDeps = IngestDeps & Pick<Deps, "database" | "catalog">;

/** `POST /api/v1/analytics/track`: a browser's events, limited per client IP in events per second. */
export async function acceptTrack(
  deps: CheckingDeps & Pick<Deps, "limiter" | "config">,
  body: unknown,
  context: RequestContext,
): Promise<CheckedAcceptResult> {
  const items = split(body, LIMITS.eventsPerTrackRequest);
  const limit = await deps.limiter.take(`track:${rateLimitSubject(context.ip)}`, items.length);
  if (!limit.allowed) {
    throw new LimitExceededError(
      `more than ${deps.config.RATE_LIMIT_EVENTS_PER_SECOND} events per second from this address`,
      limit.retryAfterSeconds,
    );
  }
  // A browser cannot choose the IP it is counted under: the body's ip_address is ignored. Nor can
  // it send a refund: those come from the merchant's server, on /import.
  const batch = validateEvents(items, { context, fromBrowser: true, newId: randomUUID });
  return checked(deps, null, items, batch, finish(deps, "track", null, batch));
}

/** `POST /api/v1/analytics/import`: a back-fill into the key's account; body IPs and agents trusted. */
export async function acceptImport(
  deps: CheckingDeps,
  scope: AccountScope,
  body: unknown,
): Promise<CheckedAcceptResult> {
  const items = split(body, LIMITS.eventsPerImportRequest);
  const batch = validateEvents(items, {
    context: { receivedAt: new Date() },
    fromBrowser: false,
    newId: randomUUID,
  });
  return checked(deps, scope.accountId, items, batch, finish(deps, "import", scope.accountId, batch));
}

const edgeEnvelope = z.object({
  events: z.array(z.unknown()).max(LIMITS.eventsPerImportRequest, {
    message: `must contain at most ${LIMITS.eventsPerImportRequest} events`,
  }),
  rejected: z.array(rejectedItem).max(LIMITS.eventsPerImportRequest).optional(),
});

/**
 * `POST /internal/ingest`: a batch the edge worker accepted and enriched (its signature already
 * checked). Each event is validated again, as this process trusts no payload it did not parse; the
 * edge serves /track only, so a refund there is refused as /track refuses it.
 */
export async function acceptEdgeBatch(deps: IngestDeps, body: unknown): Promise<AcceptResult> {
  const envelope = edgeEnvelope.safeParse(body);
  if (!envelope.success) throw new InvalidError("invalid edge batch", fieldErrors(envelope.error));
  const batch: ValidatedBatch = { accepted: [], rejected: [] };
  envelope.data.events.forEach((raw, index) => {
    const parsed = storedEvent.safeParse(raw);
    if (!parsed.success) batch.rejected.push({ index, errors: fieldErrors(parsed.error), raw });
    else if (isServerOnly(parsed.data)) {
      batch.rejected.push({ index, errors: [{ field: "event_type", message: SERVER_ONLY_MESSAGE }], raw });
    } else batch.accepted.push(parsed.data);
  });
  return finish(deps, "edge", null, batch, envelope.data.rejected ?? []);
}

/**
 * `queued`'s answer with the accepted events that will not be counted. The catalog is read while the
 * batch is queued; an answer whose catalog could not be read in time checks only user agents.
 */
async function checked(
  deps: CheckingDeps,
  accountId: string | null,
  items: unknown[],
  batch: ValidatedBatch,
  queued: Promise<AcceptResult>,
): Promise<CheckedAcceptResult> {
  const funnels = deps.catalog.lookup(
    deps.database,
    batch.accepted.map((e) => e.funnel_id),
  );
  const result = await queued;
  return { ...result, not_counted: notCounted(withIndexes(items, batch), await funnels, accountId) };
}

/** Each accepted event with its index in the request: every item is either accepted or refused, in order. */
function withIndexes(items: unknown[], batch: ValidatedBatch): AcceptedAt[] {
  const refused = new Set(batch.rejected.map((r) => r.index));
  const accepted: AcceptedAt[] = [];
  let next = 0;
  items.forEach((raw, index) => {
    if (refused.has(index)) return;
    const event = batch.accepted[next++];
    if (!event) return;
    const ownAgent = typeof raw === "object" && raw !== null && "user_agent" in raw;
    accepted.push({ index, event, userAgentFromHeader: !ownAgent && event.user_agent !== null });
  });
  return accepted;
}

function split(body: unknown, max: number): unknown[] {
  const parsed = splitBody(body, max);
  if (!parsed.ok) throw new InvalidError("invalid request body", parsed.errors);
  return parsed.events;
}

async function finish(
  deps: IngestDeps,
  source: IngestBatch["source"],
  accountId: string | null,
  batch: ValidatedBatch,
  forwardedRejects: IngestBatch["rejected"] = [],
): Promise<AcceptResult> {
  const rejected = batch.rejected.map(({ index, errors }) => ({ index, errors }));
  const queued: IngestBatch = {
    source,
    accountId,
    accepted: batch.accepted,
    rejected: [...forwardedRejects, ...batch.rejected],
  };
  if (queued.accepted.length + queued.rejected.length > 0) {
    try {
      await deps.queue.enqueue(queued);
    } catch (error) {
      deps.logger.error({ err: error, source, events: queued.accepted.length }, "enqueue failed");
      throw new UnavailableError("the ingest queue is unavailable; retry later");
    }
  }
  countIngested(deps.metrics, source, batch.accepted.length, batch.rejected.length);
  // Nothing valid in a non-empty body is the client's error; the refused events are kept anyway.
  if (batch.accepted.length === 0 && batch.rejected.length > 0) {
    throw new InvalidError("no valid event in the request", rejected);
  }
  return { accepted: batch.accepted.length, rejected };
}
