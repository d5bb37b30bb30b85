import type { EventType } from "./schema";

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
