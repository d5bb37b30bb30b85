import { visitorEvents } from "@funnel/db/queries/journey";
import { journeySessions, journeyTotals } from "@funnel/metrics";
import type { AccountScope, Deps } from "../../deps";
import { NotFoundError } from "../../errors";

/**
 * A visitor's journey (REQ-FUN-004-13, METRICS.md "Visitor journey"): its sessions, newest first,
 * each with its events, read from the raw events of the key's account (bots left out). A visitor
 * with no such event — unknown, another account's, only bots, anonymised after a consent
 * withdrawal, or none in `funnel_id` — is a 404.
 */

export type JourneyContext = Pick<Deps, "database">;

export interface JourneyInput {
  visitorId: string;
  funnelId?: string | undefined;
  /** The moment sessions are judged open or ended at; tests move it. */
  now?: Date;
}

export interface JourneyEventView {
  event_id: string;
  event_type: string;
  page_id: string | null;
  step_id: string | null;
  url: string | null;
  timestamp: string;
  metadata: Record<string, unknown>;
}

export interface JourneySessionView {
  session_id: string;
  funnel_id: string;
  started_at: string;
  ended_at: string | null;
  entry_page: string | null;
  exit_page: string | null;
  page_views: number;
  time_spent_seconds: number;
  conversions: number;
  events: JourneyEventView[];
}

export interface JourneyView {
  visitor_id: string;
  first_seen_at: string;
  last_seen_at: string;
  total_sessions: number;
  total_page_views: number;
  total_conversions: number;
  sessions: JourneySessionView[];
}

export async function getVisitorJourney(
  ctx: JourneyContext,
  scope: Pick<AccountScope, "accountId">,
  input: JourneyInput,
): Promise<JourneyView> {
  const events = await visitorEvents(ctx.database.db, scope.accountId, input.visitorId, {
    funnelId: input.funnelId,
  });
  const sessions = journeySessions(events, input.now ?? new Date());
  const totals = journeyTotals(sessions);
  if (!totals.firstSeenAt || !totals.lastSeenAt) throw new NotFoundError("visitor");
  return {
    visitor_id: input.visitorId.toLowerCase(),
    first_seen_at: totals.firstSeenAt.toISOString(),
    last_seen_at: totals.lastSeenAt.toISOString(),
    total_sessions: totals.sessions,
    total_page_views: totals.pageViews,
    total_conversions: totals.conversions,
    sessions: sessions.map((s) => ({
      session_id: s.sessionId,
      funnel_id: s.funnelId,
      started_at: s.startedAt.toISOString(),
      ended_at: s.endedAt?.toISOString() ?? null,
      entry_page: s.entryPage,
      exit_page: s.exitPage,
      page_views: s.pageViews,
      time_spent_seconds: s.timeSpentSeconds,
      conversions: s.conversions,
      events: s.events.map((e) => ({
        event_id: e.eventId,
        event_type: e.eventType,
        page_id: e.pageId,
        step_id: e.stepId,
        url: e.url,
        timestamp: e.createdAt.toISOString(),
        metadata: (e.metadata ?? {}) as Record<string, unknown>,
      })),
    })),
  };
}
