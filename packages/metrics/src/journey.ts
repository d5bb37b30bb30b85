import { roundTo } from "./rounding";

/**
 * A visitor's sessions (METRICS.md "Visitor journey", docs/metrics.md): a session is one
 * `session_id` in one funnel; it has ended once it has had no event for 30 minutes, and is open
 * until then. A journey is answered a page at a time; these are the rules of a session's figures,
 * whichever of its events a page shows, and of how many events of which sessions a page holds.
 */

/** A session with no event for this long has ended. */
export const SESSION_TIMEOUT_MS = 30 * 60_000;

/** What is stored about a whole session. */
export interface JourneySessionFigures {
  startedAt: Date;
  lastEventAt: Date;
  /** URLs of its first and last page_view; null without one, or sent without a URL. */
  firstPageUrl: string | null;
  lastPageUrl: string | null;
}

export interface JourneySessionState {
  /** Time of the last event once the session has ended; null while it is open. */
  endedAt: Date | null;
  /** URL of the first page_view; null when there is none, or it was sent without a URL. */
  entryPage: string | null;
  /** URL of the last page_view once the session has ended; null while open, or as entryPage. */
  exitPage: string | null;
  /** Last event − first event, in seconds, rounded half away from zero. */
  timeSpentSeconds: number;
}

/** The session's end, entry and exit pages and time spent, judged at `now`. */
export function journeySessionState(figures: JourneySessionFigures, now: Date): JourneySessionState {
  const open = now.getTime() - figures.lastEventAt.getTime() < SESSION_TIMEOUT_MS;
  return {
    endedAt: open ? null : figures.lastEventAt,
    entryPage: figures.firstPageUrl,
    exitPage: open ? null : figures.lastPageUrl,
    timeSpentSeconds: roundTo((figures.lastEventAt.getTime() - figures.startedAt.getTime()) / 1000, 0),
  };
}

export interface JourneyPagePlan {
  /** Events to show of each of the first `takes.length` sessions given, in order. */
  takes: number[];
  /** Whether events remain after the page: of its last session, or in later sessions. */
  more: boolean;
}

/**
 * Which events a page of at most `limit` events holds: sessions in journey order, each with the
 * events it has left (all of them, or those after the page's start in the first one), filled up
 * to `limit`. A session that does not fit is cut, and the next page goes on with it. Pass one
 * session more than a page can hold, so that `more` knows whether a later one exists.
 */
export function planJourneyPage(sessions: { remaining: number }[], limit: number): JourneyPagePlan {
  const takes: number[] = [];
  let used = 0;
  for (const s of sessions) {
    if (used >= limit) return { takes, more: true };
    const take = Math.min(s.remaining, limit - used);
    takes.push(take);
    used += take;
    if (take < s.remaining) return { takes, more: true };
  }
  return { takes, more: false };
}
