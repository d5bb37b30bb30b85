import type { ConversionType } from "@funnel/events";
import { type SQL, sql } from "drizzle-orm";
import { type Database, queryRows } from "../client";
import { countedEvent } from "./bot-sessions";

/**
 * A visitor's journey (REQ-FUN-004-13) read from the raw events of one account, bot sessions left out,
 * a page at a time. Three reads, each keyed by account and visitor id:
 * - `journeyTotals`: the figures of the whole journey (one row, whatever its size);
 * - `journeySessions`: the sessions from a position on, newest first, with each one's figures;
 * - `journeyEvents`: a bounded number of events of given sessions, oldest first.
 * No read returns more rows than it is asked for, and only `journeyEvents` reads `metadata`.
 *
 * Order: sessions by start descending, then funnel id, then session id in code-point order
 * (COLLATE "C", so that the order does not depend on the database's locale); events by time, then
 * event id. Times are compared to the microsecond; positions carry them as ISO text.
 */

export interface JourneyScope {
  accountId: string;
  visitorId: string;
  /** Only the sessions of this funnel. */
  funnelId?: string | undefined;
}

/** Where a page starts: in this session, after this event (or at its first event when null). */
export interface JourneyPosition {
  /** The session's start, ISO with microseconds. */
  startedAt: string;
  funnelId: string;
  sessionId: string;
  after: { at: string; eventId: string } | null;
}

export interface JourneyTotalsRow {
  events: number;
  sessions: number;
  pageViews: number;
  conversions: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
}

export interface JourneySessionRow {
  funnelId: string;
  sessionId: string;
  startedAt: Date;
  /** `startedAt` with microseconds, for positions. */
  startedAtKey: string;
  lastEventAt: Date;
  events: number;
  /** Events after the position (all of them but in the position's own session). */
  remaining: number;
  pageViews: number;
  conversions: number;
  /** URLs of the first and last page_view (null without one, or sent without a URL). */
  firstPageUrl: string | null;
  lastPageUrl: string | null;
}

export interface JourneyEventRow {
  eventId: string;
  funnelId: string;
  sessionId: string;
  eventType: string;
  pageId: string | null;
  stepId: string | null;
  url: string | null;
  /** Set on conversions only (validated when accepted). */
  conversionType: ConversionType | null;
  /** A conversion's value or the amount a refund asks; null on other events and valueless conversions. */
  valueCents: number | null;
  metadata: Record<string, unknown>;
  createdAt: Date;
  /** `createdAt` with microseconds, for positions. */
  at: string;
}

const iso = (column: string, precision: "MS" | "US") =>
  sql.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.${precision}"Z"')`);

/** The counted events of the visitor in the account (and funnel). */
function ofVisitor(scope: JourneyScope, alias = "analytics_events"): SQL {
  const c = (name: string) => sql.raw(`${alias}.${name}`);
  return sql`${c("account_id")} = ${scope.accountId}::uuid and ${c("visitor_id")} = ${scope.visitorId.toLowerCase()}::uuid
    and ${countedEvent(alias)}${scope.funnelId === undefined ? sql`` : sql` and ${c("funnel_id")} = ${scope.funnelId.toLowerCase()}::uuid`}`;
}

/** The whole journey's figures; null when the visitor has no counted event there. */
export async function journeyTotals(db: Database, scope: JourneyScope): Promise<JourneyTotalsRow | null> {
  const [row] = await queryRows<{
    events: number | string;
    sessions: number | string;
    page_views: number | string;
    conversions: number | string;
    first_seen_at: string | null;
    last_seen_at: string | null;
  }>(
    db,
    sql`select coalesce(sum(s.events), 0)::int as events, count(*)::int as sessions,
        coalesce(sum(s.page_views), 0)::int as page_views, coalesce(sum(s.conversions), 0)::int as conversions,
        ${iso("min(s.started_at)", "MS")} as first_seen_at, ${iso("max(s.last_event_at)", "MS")} as last_seen_at
      from (
        select count(*) as events, min(created_at) as started_at, max(created_at) as last_event_at,
          count(*) filter (where event_type = 'page_view') as page_views,
          count(*) filter (where event_type = 'conversion') as conversions
        from analytics_events
        where ${ofVisitor(scope)}
        group by funnel_id, session_id
      ) s`,
  );
  if (!row || row.first_seen_at === null || row.last_seen_at === null) return null;
  return {
    events: Number(row.events),
    sessions: Number(row.sessions),
    pageViews: Number(row.page_views),
    conversions: Number(row.conversions),
    firstSeenAt: new Date(row.first_seen_at),
    lastSeenAt: new Date(row.last_seen_at),
  };
}

/**
 * Up to `limit` sessions from `from` on (the session of `from` itself included when it has
 * events after it), in journey order, each with its figures. The figures are grouped over the
 * visitor's events (narrow columns, no metadata); the URLs are read for the returned sessions only.
 */
export async function journeySessions(
  db: Database,
  scope: JourneyScope,
  from: JourneyPosition | null,
  limit: number,
): Promise<JourneySessionRow[]> {
  const atOrAfter = from
    ? sql`having min(created_at) < ${from.startedAt}::timestamptz
        or (min(created_at) = ${from.startedAt}::timestamptz and (funnel_id > ${from.funnelId}::uuid
          or (funnel_id = ${from.funnelId}::uuid and session_id collate "C" >= ${from.sessionId})))`
    : sql``;
  const seen = from?.after
    ? sql`funnel_id = ${from.funnelId}::uuid and session_id = ${from.sessionId}
        and (created_at, event_id) <= (${from.after.at}::timestamptz, ${from.after.eventId}::uuid)`
    : sql`false`;
  const pageUrl = (direction: "asc" | "desc") =>
    sql`(select e.url from analytics_events e
      where ${ofVisitor(scope, "e")} and e.funnel_id = s.funnel_id and e.session_id = s.session_id
        and e.event_type = 'page_view'
      order by e.created_at ${sql.raw(direction)}, e.event_id ${sql.raw(direction)} limit 1)`;
  const rows = await queryRows<{
    funnel_id: string;
    session_id: string;
    started_at: string;
    started_at_key: string;
    last_event_at: string;
    events: number | string;
    remaining: number | string;
    page_views: number | string;
    conversions: number | string;
    first_page_url: string | null;
    last_page_url: string | null;
  }>(
    db,
    sql`select s.funnel_id::text as funnel_id, s.session_id, ${iso("s.started_at", "MS")} as started_at,
        ${iso("s.started_at", "US")} as started_at_key, ${iso("s.last_event_at", "MS")} as last_event_at,
        s.events, s.remaining, s.page_views, s.conversions,
        ${pageUrl("asc")} as first_page_url, ${pageUrl("desc")} as last_page_url
      from (
        select * from (
          select funnel_id, session_id, min(created_at) as started_at, max(created_at) as last_event_at,
            count(*)::int as events, (count(*) filter (where not (${seen})))::int as remaining,
            (count(*) filter (where event_type = 'page_view'))::int as page_views,
            (count(*) filter (where event_type = 'conversion'))::int as conversions
          from analytics_events
          where ${ofVisitor(scope)}
          group by funnel_id, session_id
          ${atOrAfter}
        ) g
        where g.remaining > 0
        order by g.started_at desc, g.funnel_id, g.session_id collate "C"
        limit ${limit}
      ) s
      order by s.started_at desc, s.funnel_id, s.session_id collate "C"`,
  );
  return rows.map((r) => ({
    funnelId: r.funnel_id,
    sessionId: r.session_id,
    startedAt: new Date(r.started_at),
    startedAtKey: r.started_at_key,
    lastEventAt: new Date(r.last_event_at),
    events: Number(r.events),
    remaining: Number(r.remaining),
    pageViews: Number(r.page_views),
    conversions: Number(r.conversions),
    firstPageUrl: r.first_page_url,
    lastPageUrl: r.last_page_url,
  }));
}

/**
 * Events of `sessions`, in that order, each session's oldest first and at most its `take`; in the
 * session of `from`, only those after its event. Each session is read by a keyset query of its own
 * that stops at its `take`, so the rows read are bounded by the sum of the takes.
 */
export async function journeyEvents(
  db: Database,
  scope: JourneyScope,
  sessions: { funnelId: string; sessionId: string; take: number }[],
  from: JourneyPosition | null,
): Promise<JourneyEventRow[]> {
  if (sessions.length === 0) return [];
  const afterPosition = from?.after
    ? sql`and (k.funnel_id::uuid <> ${from.funnelId}::uuid or k.session_id <> ${from.sessionId}
        or (e.created_at, e.event_id) > (${from.after.at}::timestamptz, ${from.after.eventId}::uuid))`
    : sql``;
  const rows = await queryRows<{
    event_id: string;
    funnel_id: string;
    session_id: string;
    event_type: string;
    page_id: string | null;
    step_id: string | null;
    url: string | null;
    conversion_type: ConversionType | null;
    value_cents: number | string | null;
    metadata: string;
    created_at: string;
    at: string;
  }>(
    db,
    sql`select e.event_id::text as event_id, e.funnel_id::text as funnel_id, e.session_id, e.event_type,
        e.page_id::text as page_id, e.funnel_step_id::text as step_id, e.url, e.conversion_type,
        e.value_cents, e.metadata::text as metadata,
        ${iso("e.created_at", "MS")} as created_at, ${iso("e.created_at", "US")} as at
      from unnest(${sql.param(sessions.map((s) => s.funnelId))}::text[],
          ${sql.param(sessions.map((s) => s.sessionId))}::text[],
          ${sql.param(sessions.map((s) => String(s.take)))}::text[])
        with ordinality as k(funnel_id, session_id, take, n)
      cross join lateral (
        select e.event_id, e.funnel_id, e.session_id, e.event_type, e.page_id, e.funnel_step_id, e.url,
          e.conversion_type, e.value_cents, e.metadata, e.created_at
        from analytics_events e
        where ${ofVisitor(scope, "e")} and e.funnel_id = k.funnel_id::uuid and e.session_id = k.session_id
          ${afterPosition}
        order by e.created_at, e.event_id
        limit k.take::int
      ) e
      order by k.n, e.created_at, e.event_id`,
  );
  return rows.map((r) => ({
    eventId: r.event_id,
    funnelId: r.funnel_id,
    sessionId: r.session_id,
    eventType: r.event_type,
    pageId: r.page_id,
    stepId: r.step_id,
    url: r.url,
    conversionType: r.conversion_type,
    valueCents: r.value_cents === null ? null : Number(r.value_cents),
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    createdAt: new Date(r.created_at),
    at: r.at,
  }));
}
