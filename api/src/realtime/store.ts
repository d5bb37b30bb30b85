/**
 * The real-time view's store (REQ-FUN-004-11): a rolling picture of each funnel kept at ingest,
 * so that the real-time route never scans the events table. Redis sorted sets in production
 * (store-redis.ts), a Map twin in the embedded default (store-memory.ts), chosen at boot.
 *
 * Windows run on event time, not arrival time: an event that arrives late is kept only for as
 * long as its own time is inside a window, and it takes a place among the newest events only if
 * its time earns one.
 */

export const REALTIME = {
  /** A visitor with an event this recent is active. */
  activeWindowMs: 30 * 60_000,
  /** Conversions counted in `conversions_last_5min`. */
  conversionWindowMs: 5 * 60_000,
  /** Newest events kept per funnel. */
  recentEvents: 50,
  /** A funnel with no event this long forgets its newest events. */
  recentEventsTtlMs: 7 * 24 * 3_600_000,
} as const;

/** A stored, non-bot event, reduced to what the real-time view shows. */
export interface RealtimeEvent {
  eventId: string;
  /** The account the event was stored for: with the funnel, the picture it belongs to. */
  accountId: string;
  funnelId: string;
  eventType: string;
  visitorId: string;
  sessionId: string;
  /** The step of a step_entry / step_exit. */
  stepId: string | null;
  valueCents: number | null;
  /** Event time (unix ms). */
  occurredAt: number;
}

export interface RecentEvent {
  eventType: string;
  stepId: string | null;
  sessionId: string;
  occurredAt: number;
}

export interface RealtimeSnapshot {
  /** Distinct visitors with an event in the active window. */
  activeVisitors: number;
  /** Active visitors by the step of their latest step_entry in the window (step id → visitors). */
  activeByStep: Record<string, number>;
  /** Newest first, at most REALTIME.recentEvents. */
  recentEvents: RecentEvent[];
  conversions: { count: number; valueCents: number };
}

/**
 * Pictures are kept per account and funnel, never per funnel alone: another account's events
 * under the same funnel id (one that changed hands, or events stored before it did) stay apart.
 */
export interface RealtimeStore {
  /** Adds newly stored events (callers leave bots out). */
  record(events: RealtimeEvent[]): Promise<void>;
  /** The account's picture of the funnel at `now` (unix ms). */
  snapshot(accountId: string, funnelId: string, now: number): Promise<RealtimeSnapshot>;
  /**
   * Consent withdrawal: in each of the account's funnels, the visitor's activity and step entries
   * move to the id `rename.to` (so every count stays), and the newest events of the renamed
   * sessions show their new session ids. Nothing of the old id is left.
   */
  renameVisitor(accountId: string, funnelIds: string[], rename: VisitorRename): Promise<void>;
}

export interface VisitorRename {
  from: string;
  to: string;
  /** Session ids to replace: old → new. */
  sessions: Map<string, string>;
}

/** Per visitor, the step of its latest entry: from (visitor, step) → latest entry time. */
export function latestStepPerVisitor(entries: Iterable<[visitorId: string, stepId: string, at: number]>) {
  const latest = new Map<string, { stepId: string; at: number }>();
  for (const [visitorId, stepId, at] of entries) {
    const seen = latest.get(visitorId);
    // Ties (two entries in the same millisecond) go to the larger step id: arbitrary but stable.
    if (!seen || at > seen.at || (at === seen.at && stepId > seen.stepId))
      latest.set(visitorId, { stepId, at });
  }
  const byStep: Record<string, number> = {};
  for (const { stepId } of latest.values()) byStep[stepId] = (byStep[stepId] ?? 0) + 1;
  return byStep;
}
