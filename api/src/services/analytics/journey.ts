import {
  type JourneyEventRow,
  type JourneyScope,
  type JourneySessionRow,
  journeyEvents,
  journeySessions,
  journeyTotals,
} from "@funnel/db/queries/journey";
import type { ConversionType } from "@funnel/events";
import { journeySessionState, planJourneyPage } from "@funnel/metrics";
import type { AccountScope, Deps } from "../../deps";
import { NotFoundError } from "../../errors";
import { decodeJourneyCursor, encodeJourneyCursor } from "./journey-cursor";

/**
 * A visitor's journey (REQ-FUN-004-13, METRICS.md "Visitor journey"): its sessions, newest first,
 * each with its events oldest first, read from the raw events of the key's account (bots left
 * out), one page at a time. A page holds at most `limit` events and about JOURNEY_PAGE_BYTES of
 * JSON; a session too large for it is cut and goes on in the next page, which `next_cursor` names.
 * The totals and each session's figures are of the whole journey, on every page. A visitor with
 * no counted event — unknown, another account's, only bots, anonymised after a consent withdrawal,
 * or none in `funnel_id` — is a 404.
 */

export const JOURNEY_DEFAULT_LIMIT = 200;
export const JOURNEY_MAX_LIMIT = 500;
/** JSON of a page's sessions and events, at most: one event takes up to about 11 KB (8 KiB of metadata, a 2 KiB URL). */
export const JOURNEY_PAGE_BYTES = 1_048_576;

export type JourneyContext = Pick<Deps, "database">;

export interface JourneyInput {
  visitorId: string;
  funnelId?: string | undefined;
  /** Events per page; JOURNEY_DEFAULT_LIMIT when absent. */
  limit?: number | undefined;
  /** `next_cursor` of the previous page. */
  cursor?: string | undefined;
  /** The moment sessions are judged open or ended at; tests move it. */
  now?: Date;
}

export interface JourneyEventView {
  event_id: string;
  event_type: string;
  page_id: string | null;
  step_id: string | null;
  url: string | null;
  conversion_type: ConversionType | null;
  value_cents: number | null;
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
  total_events: number;
  events: JourneyEventView[];
}

export interface JourneyView {
  visitor_id: string;
  first_seen_at: string;
  last_seen_at: string;
  total_sessions: number;
  total_page_views: number;
  total_conversions: number;
  total_events: number;
  sessions: JourneySessionView[];
  next_cursor: string | null;
}

export async function getVisitorJourney(
  ctx: JourneyContext,
  scope: Pick<AccountScope, "accountId">,
  input: JourneyInput,
): Promise<JourneyView> {
  const binding = { accountId: scope.accountId, visitorId: input.visitorId, funnelId: input.funnelId };
  const from = input.cursor === undefined ? null : decodeJourneyCursor(binding, input.cursor);
  const limit = input.limit ?? JOURNEY_DEFAULT_LIMIT;
  const db = ctx.database.db;
  const visitor: JourneyScope = binding;

  // One session more than the page can hold tells whether a later one exists.
  const [totals, sessions] = await Promise.all([
    journeyTotals(db, visitor),
    journeySessions(db, visitor, from, limit + 1),
  ]);
  if (!totals) throw new NotFoundError("visitor");
  const plan = planJourneyPage(sessions, limit);
  const planned = sessions.slice(0, plan.takes.length);
  const events = await journeyEvents(
    db,
    visitor,
    planned.map((s, i) => ({ funnelId: s.funnelId, sessionId: s.sessionId, take: plan.takes[i] ?? 0 })),
    from,
  );
  const page = fitPage(planned, events, input.now ?? new Date());
  const last = page.last;
  const more = page.cut || plan.more;
  return {
    visitor_id: input.visitorId.toLowerCase(),
    first_seen_at: totals.firstSeenAt.toISOString(),
    last_seen_at: totals.lastSeenAt.toISOString(),
    total_sessions: totals.sessions,
    total_page_views: totals.pageViews,
    total_conversions: totals.conversions,
    total_events: totals.events,
    sessions: page.sessions,
    next_cursor:
      more && last
        ? encodeJourneyCursor(binding, {
            startedAt: last.session.startedAtKey,
            funnelId: last.session.funnelId,
            sessionId: last.session.sessionId,
            after: { at: last.event.at, eventId: last.event.eventId },
          })
        : null,
  };
}

/**
 * The page's sessions with their events, up to JOURNEY_PAGE_BYTES of JSON (and at least one
 * event); `cut` when events were left out for it, `last` the last event shown and its session.
 */
function fitPage(sessions: JourneySessionRow[], events: JourneyEventRow[], now: Date) {
  const views: JourneySessionView[] = [];
  let last: { session: JourneySessionRow; event: JourneyEventRow } | null = null;
  let bytes = 0;
  let i = 0;
  for (const session of sessions) {
    const view = sessionView(session, now);
    bytes += jsonBytes(view);
    for (; i < events.length; i++) {
      const event = events[i];
      if (!event || event.funnelId !== session.funnelId || event.sessionId !== session.sessionId) break;
      const eventView = toEventView(event);
      bytes += jsonBytes(eventView) + 1;
      if (bytes > JOURNEY_PAGE_BYTES && last) {
        if (view.events.length > 0) views.push(view);
        return { sessions: views, last, cut: true };
      }
      view.events.push(eventView);
      last = { session, event };
    }
    if (view.events.length > 0) views.push(view);
  }
  return { sessions: views, last, cut: false };
}

function sessionView(s: JourneySessionRow, now: Date): JourneySessionView {
  const state = journeySessionState(s, now);
  return {
    session_id: s.sessionId,
    funnel_id: s.funnelId,
    started_at: s.startedAt.toISOString(),
    ended_at: state.endedAt?.toISOString() ?? null,
    entry_page: state.entryPage,
    exit_page: state.exitPage,
    page_views: s.pageViews,
    time_spent_seconds: state.timeSpentSeconds,
    conversions: s.conversions,
    total_events: s.events,
    events: [],
  };
}

function toEventView(e: JourneyEventRow): JourneyEventView {
  return {
    event_id: e.eventId,
    event_type: e.eventType,
    page_id: e.pageId,
    step_id: e.stepId,
    url: e.url,
    conversion_type: e.conversionType,
    value_cents: e.valueCents,
    timestamp: e.createdAt.toISOString(),
    metadata: e.metadata,
  };
}

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
