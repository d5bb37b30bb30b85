import type { AcceptedEvent } from "@funnel/events";
import { enrichUserAgent } from "@funnel/events/enrich";
import type { FunnelLookup } from "../services/catalog/catalog-cache";

/**
 * Which accepted events will not be counted, and why, told to the client at accept time. The events
 * are queued and stored all the same (an unknown funnel's aside in rejected_events, the others with
 * the events); this only says what the reports will make of them. One reason per event, the one
 * that decides most: an unknown funnel counts nowhere, a bot's event nowhere, an unknown step's
 * event counts for its funnel but in no step.
 */

export const NOT_COUNTED_REASONS = ["unknown_funnel", "bot_user_agent", "unknown_step"] as const;
export type NotCountedReason = (typeof NOT_COUNTED_REASONS)[number];

export interface NotCounted {
  /** The event's index in the request. */
  index: number;
  field: string;
  reason: NotCountedReason;
  message: string;
}

export interface AcceptedAt {
  index: number;
  event: AcceptedEvent;
  /** Whether the user agent came from the request's header rather than from the event (/track). */
  userAgentFromHeader: boolean;
}

export const NOT_COUNTED_MESSAGES = {
  unknownFunnel: "funnel is not in the catalog: the event is kept aside and counted in no report",
  notTheAccountsFunnel:
    "funnel is not one of this account's funnels: the event is kept aside and counted in no report",
  botUserAgent: "user agent is a known bot's: the event and its session count in no report",
  botHeader: "the request's User-Agent is a known bot's: the event and its session count in no report",
  unknownStep: "step is not a step of this funnel: the event counts in none of its steps",
} as const;

/**
 * The events of `accepted` that will not be counted. `accountId` is the key's account on /import
 * (another account's funnel is unknown there, as the writer keeps it aside), null where the funnel
 * decides the account. A funnel `funnels` has no entry for (the catalog could not be read in time)
 * is not checked; a missing user agent is never by itself a bot's.
 */
export function notCounted(
  accepted: readonly AcceptedAt[],
  funnels: FunnelLookup,
  accountId: string | null,
): NotCounted[] {
  const found: NotCounted[] = [];
  for (const { index, event, userAgentFromHeader } of accepted) {
    const funnel = funnels.get(event.funnel_id.toLowerCase());
    if (funnel === null || (funnel && accountId !== null && funnel.accountId !== accountId)) {
      const message =
        accountId === null ? NOT_COUNTED_MESSAGES.unknownFunnel : NOT_COUNTED_MESSAGES.notTheAccountsFunnel;
      found.push({ index, field: "funnel_id", reason: "unknown_funnel", message });
    } else if (isBotAgent(event.user_agent)) {
      const message = userAgentFromHeader
        ? NOT_COUNTED_MESSAGES.botHeader
        : NOT_COUNTED_MESSAGES.botUserAgent;
      found.push({ index, field: "user_agent", reason: "bot_user_agent", message });
    } else if (
      funnel &&
      event.funnel_step_id !== null &&
      !funnel.stepIds.has(event.funnel_step_id.toLowerCase())
    ) {
      found.push({
        index,
        field: "funnel_step_id",
        reason: "unknown_step",
        message: NOT_COUNTED_MESSAGES.unknownStep,
      });
    }
  }
  return found;
}

/** The writer's bot flag (enrichment, with the isbot list) for an agent that is there at all. */
function isBotAgent(userAgent: string | null): boolean {
  return userAgent !== null && userAgent.trim() !== "" && enrichUserAgent(userAgent).is_bot;
}
