/**
 * Reference implementation of the visitor journey (docs/metrics.md "Visitor journey"), computed
 * from raw stored events in plain code. Independent of api/, db/ and packages/metrics on purpose:
 * the route test compares every field of the API's answer with it. This is the whole journey; the
 * API answers it in pages, which the test puts back together.
 */

/** One row of analytics_events with what a journey shows. */
export interface JourneyRawEvent {
  event_id: string;
  account_id: string;
  funnel_id: string;
  event_type: string;
  visitor_id: string;
  session_id: string;
  page_id: string | null;
  funnel_step_id: string | null;
  url: string | null;
  conversion_type: string | null;
  value_cents: number | null;
  is_bot: boolean;
  metadata: Record<string, unknown>;
  /** ISO8601 with milliseconds, UTC. */
  created_at: string;
}

/** A session has ended once it has had no event for this long. */
const SESSION_TIMEOUT_MS = 30 * 60_000;

const ms = (e: JourneyRawEvent) => Date.parse(e.created_at);
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** Unicode code point order (UTF-16 code units differ from it above U+D7FF). */
const byCodePoint = (a: string, b: string) => {
  const x = [...a].map((c) => c.codePointAt(0) ?? 0);
  const y = [...b].map((c) => c.codePointAt(0) ?? 0);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  }
  return x.length - y.length;
};

/**
 * The journey of `visitorId` in `accountId` at `now`, or null where the API answers 404 (no
 * counted event of the visitor there, or none in `funnelId`).
 */
export function journey(
  events: JourneyRawEvent[],
  accountId: string,
  visitorId: string,
  now: number,
  funnelId?: string,
) {
  // A session with any bot event counts nowhere (docs/metrics.md, session attributes).
  const botSessions = new Set(events.filter((e) => e.is_bot).map((e) => `${e.account_id} ${e.session_id}`));
  const mine = events.filter(
    (e) =>
      e.account_id === accountId &&
      e.visitor_id === visitorId.toLowerCase() &&
      !botSessions.has(`${e.account_id} ${e.session_id}`) &&
      (funnelId === undefined || e.funnel_id === funnelId),
  );
  if (mine.length === 0) return null;

  // A session is one session_id in one funnel (the answer names the funnel of each).
  const groups = new Map<string, JourneyRawEvent[]>();
  for (const e of mine) {
    const key = `${e.funnel_id} ${e.session_id}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const sessions = [...groups.values()].map((list) => {
    const ordered = [...list].sort((a, b) => ms(a) - ms(b) || byText(a.event_id, b.event_id));
    const first = ordered[0] as JourneyRawEvent;
    const last = ordered[ordered.length - 1] as JourneyRawEvent;
    const views = ordered.filter((e) => e.event_type === "page_view");
    const open = now - ms(last) < SESSION_TIMEOUT_MS;
    return {
      session_id: first.session_id,
      funnel_id: first.funnel_id,
      started_at: first.created_at,
      ended_at: open ? null : last.created_at,
      entry_page: views[0]?.url ?? null,
      exit_page: open ? null : (views[views.length - 1]?.url ?? null),
      page_views: views.length,
      time_spent_seconds: Math.round((ms(last) - ms(first)) / 1000),
      conversions: ordered.filter((e) => e.event_type === "conversion").length,
      total_events: ordered.length,
      events: ordered.map((e) => ({
        event_id: e.event_id,
        event_type: e.event_type,
        page_id: e.page_id,
        step_id: e.funnel_step_id,
        url: e.url,
        // What the event was sent with: a conversion's type; a conversion's value or a refund's amount.
        conversion_type: e.event_type === "conversion" ? e.conversion_type : null,
        value_cents: e.event_type === "conversion" || e.event_type === "refund" ? e.value_cents : null,
        timestamp: e.created_at,
        metadata: e.metadata,
      })),
    };
  });
  // Newest first; sessions starting in the same millisecond by funnel, then session id (code points).
  sessions.sort(
    (a, b) =>
      Date.parse(b.started_at) - Date.parse(a.started_at) ||
      byText(a.funnel_id, b.funnel_id) ||
      byCodePoint(a.session_id, b.session_id),
  );
  const lastEvents = sessions.map((s) => Date.parse(s.events[s.events.length - 1]?.timestamp ?? ""));
  return {
    visitor_id: visitorId.toLowerCase(),
    first_seen_at: new Date(Math.min(...sessions.map((s) => Date.parse(s.started_at)))).toISOString(),
    last_seen_at: new Date(Math.max(...lastEvents)).toISOString(),
    total_sessions: sessions.length,
    total_page_views: sessions.reduce((n, s) => n + s.page_views, 0),
    total_conversions: sessions.reduce((n, s) => n + s.conversions, 0),
    total_events: mine.length,
    sessions,
  };
}
