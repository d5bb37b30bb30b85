import { roundTo } from "./rounding";

/**
 * A visitor's sessions (METRICS.md "Visitor journey", docs/metrics.md): a session is one
 * `session_id` in one funnel; it has ended once it has had no event for 30 minutes, and is open
 * until then.
 */

/** A session with no event for this long has ended. */
export const SESSION_TIMEOUT_MS = 30 * 60_000;

export interface JourneyEventInput {
  funnelId: string;
  sessionId: string;
  eventType: string;
  url: string | null;
  createdAt: Date;
}

export interface JourneySession<E extends JourneyEventInput> {
  funnelId: string;
  sessionId: string;
  startedAt: Date;
  /** Time of the last event once the session has ended; null while it is open. */
  endedAt: Date | null;
  /** Time of the last event, open or not. */
  lastEventAt: Date;
  /** URL of the first page_view; null when there is none, or it was sent without a URL. */
  entryPage: string | null;
  /** URL of the last page_view once the session has ended; null while open, or as entryPage. */
  exitPage: string | null;
  pageViews: number;
  conversions: number;
  /** Last event − first event, in seconds, rounded half away from zero. */
  timeSpentSeconds: number;
  /** Oldest first. */
  events: E[];
}

export interface JourneyTotals {
  sessions: number;
  pageViews: number;
  conversions: number;
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
}

/** Sessions of `events` at `now`: newest first by start (ties by funnel, then session id). */
export function journeySessions<E extends JourneyEventInput>(events: E[], now: Date): JourneySession<E>[] {
  const groups = new Map<string, E[]>();
  for (const e of events) {
    const key = `${e.funnelId}\u0000${e.sessionId}`;
    const list = groups.get(key);
    if (list) list.push(e);
    else groups.set(key, [e]);
  }
  const sessions: JourneySession<E>[] = [];
  for (const list of groups.values()) {
    // Stable: events at the same instant keep the order they were given in.
    const ordered = [...list].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    const first = ordered[0];
    const last = ordered[ordered.length - 1];
    if (!first || !last) continue;
    const pageViews = ordered.filter((e) => e.eventType === "page_view");
    const open = now.getTime() - last.createdAt.getTime() < SESSION_TIMEOUT_MS;
    sessions.push({
      funnelId: first.funnelId,
      sessionId: first.sessionId,
      startedAt: first.createdAt,
      endedAt: open ? null : last.createdAt,
      lastEventAt: last.createdAt,
      entryPage: pageViews[0]?.url ?? null,
      exitPage: open ? null : (pageViews[pageViews.length - 1]?.url ?? null),
      pageViews: pageViews.length,
      conversions: ordered.filter((e) => e.eventType === "conversion").length,
      timeSpentSeconds: roundTo((last.createdAt.getTime() - first.createdAt.getTime()) / 1000, 0),
      events: ordered,
    });
  }
  return sessions.sort(
    (a, b) =>
      b.startedAt.getTime() - a.startedAt.getTime() ||
      compare(a.funnelId, b.funnelId) ||
      compare(a.sessionId, b.sessionId),
  );
}

export function journeyTotals(sessions: JourneySession<JourneyEventInput>[]): JourneyTotals {
  let firstSeenAt: Date | null = null;
  let lastSeenAt: Date | null = null;
  for (const s of sessions) {
    if (!firstSeenAt || s.startedAt < firstSeenAt) firstSeenAt = s.startedAt;
    if (!lastSeenAt || s.lastEventAt > lastSeenAt) lastSeenAt = s.lastEventAt;
  }
  return {
    sessions: sessions.length,
    pageViews: sessions.reduce((n, s) => n + s.pageViews, 0),
    conversions: sessions.reduce((n, s) => n + s.conversions, 0),
    firstSeenAt,
    lastSeenAt,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
