import type { EventType, RejectedEvent } from "./schema";
import { type ValidatedBatch, type ValidateOptions, validateEvents } from "./validate";

/**
 * Event types a browser may not send: anyone can post to the public /track, so a refund there
 * could be anyone's. Refunds come from the merchant's server, on the keyed /import.
 */
export const SERVER_ONLY_EVENT_TYPES: ReadonlySet<string> = new Set<EventType>(["refund"]);

export const SERVER_ONLY_MESSAGE =
  "refund events are accepted only on /api/v1/analytics/import, with an API key";

/** Whether a raw or accepted event is of a type only the merchant's server may send. */
export function isServerOnly(raw: unknown): boolean {
  if (raw === null || typeof raw !== "object") return false;
  const type = (raw as { event_type?: unknown }).event_type;
  return typeof type === "string" && SERVER_ONLY_EVENT_TYPES.has(type);
}

/**
 * `validateEvents` for a browser's /track request (the API's and the edge's): a server-only event
 * is refused on its own, naming `event_type`, and the events beside it are validated as usual.
 * Indexes stay those of the request.
 */
export function validateTrackEvents(items: unknown[], options: ValidateOptions): ValidatedBatch {
  const kept: unknown[] = [];
  const indexOf: number[] = [];
  const refused: RejectedEvent[] = [];
  items.forEach((raw, index) => {
    if (isServerOnly(raw)) {
      refused.push({ index, errors: [{ field: "event_type", message: SERVER_ONLY_MESSAGE }], raw });
    } else {
      kept.push(raw);
      indexOf.push(index);
    }
  });
  const batch = validateEvents(kept, options);
  const rejected = [
    ...refused,
    ...batch.rejected.map((r) => ({ ...r, index: indexOf[r.index] ?? r.index })),
  ].sort((a, b) => a.index - b.index);
  return { accepted: batch.accepted, rejected };
}
