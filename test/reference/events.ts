/**
 * Building blocks of the reference reports (docs/metrics.md), written for obviousness over speed.
 * Independent of api/, db/ and packages/metrics on purpose: it is the yardstick they are held to.
 */

/** One row of analytics_events, as the reference test reads it. */
export interface RawEvent {
  event_id: string;
  funnel_id: string;
  event_type: "page_view" | "conversion" | "step_entry" | "step_exit" | "refund";
  visitor_id: string;
  session_id: string;
  funnel_step_id: string | null;
  previous_step_id: string | null;
  next_step_id: string | null;
  exit_outcome: string | null;
  conversion_type: string | null;
  value_cents: number | null;
  order_id: string | null;
  referrer: string | null;
  utm_source: string | null;
  device_type: string | null;
  browser: string | null;
  is_bot: boolean;
  metadata: Record<string, unknown>;
  /** ISO8601 with milliseconds, UTC. */
  created_at: string;
}

export interface RefStep {
  id: string;
  name: string;
  step_type: string;
  position: number;
}

export interface RefFunnel {
  id: string;
  name: string;
  steps: RefStep[];
}

/** Half-open `[start, end)`. */
export interface RefPeriod {
  start: Date;
  end: Date;
  timeZone: string;
}

export type Granularity = "hour" | "day" | "week";

export const timeOf = (e: RawEvent): number => Date.parse(e.created_at);

export const iso = (ms: number): string => new Date(ms).toISOString();

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Oldest first; `event_id` only settles events of the same millisecond. */
export function chronological(a: RawEvent, b: RawEvent): number {
  return timeOf(a) - timeOf(b) || compareText(a.event_id, b.event_id);
}

/**
 * The funnel's counted events, at any time: a session with any bot event counts nowhere, not even
 * for first-seen times, whatever its other events carry (docs/metrics.md, session attributes).
 */
export function countedEvents(events: RawEvent[], funnelId: string): RawEvent[] {
  const botSessions = new Set(events.filter((e) => e.is_bot).map((e) => e.session_id));
  return events.filter((e) => e.funnel_id === funnelId && !botSessions.has(e.session_id)).sort(chronological);
}

export function inPeriod(ms: number, period: RefPeriod): boolean {
  return ms >= period.start.getTime() && ms < period.end.getTime();
}

export function stepsInOrder(funnel: RefFunnel): RefStep[] {
  return [...funnel.steps].sort((a, b) => a.position - b.position);
}

export function periodEcho(period: RefPeriod): { start: string; end: string; time_zone: string } {
  return { start: period.start.toISOString(), end: period.end.toISOString(), time_zone: period.timeZone };
}

// ---------------------------------------------------------------------------------------------
// Rounding

/**
 * Half away from zero. `toPrecision(15)` first, so a product such as 1.00005 * 1e4
 * (10000.499999999998 in binary) rounds as the decimal it stands for.
 */
export function roundHalfAway(x: number): number {
  const magnitude = Math.round(Number(Math.abs(x).toPrecision(15)));
  // Never -0: toEqual tells it apart from 0.
  return magnitude === 0 ? 0 : x < 0 ? -magnitude : magnitude;
}

/** A fraction to 4 decimals; 0 over a zero denominator; kept inside [0, 1] (docs: Rates). */
export function rate(numerator: number, denominator: number): number {
  if (denominator === 0) return 0;
  const fraction = Math.min(1, Math.max(0, numerator / denominator));
  return roundHalfAway(fraction * 1e4) / 1e4;
}

/** An average of cents (or seconds) as an integer; 0 when there is nothing to average. */
export function average(total: number, count: number): number {
  return count === 0 ? 0 : roundHalfAway(total / count);
}

export const sum = (values: number[]): number => values.reduce((acc, v) => acc + v, 0);

// ---------------------------------------------------------------------------------------------
// Sessions

/** Host of a referrer, lower-cased, without a leading `www.`; null when absent or unparsable. */
export function referrerHost(referrer: string | null): string | null {
  if (referrer === null) return null;
  let host: string;
  try {
    host = new URL(referrer).hostname.toLowerCase();
  } catch {
    return null;
  }
  if (host.startsWith("www.")) host = host.slice(4);
  return host === "" ? null : host;
}

export interface SessionTraits {
  source: string;
  device: string;
  browser: string;
}

/**
 * Source, device and browser of every session, from all its counted events (not only the period's):
 * device and browser from the first event that carried a user agent (it has a device type), and
 * `unknown` for a session none of whose events did.
 */
export function sessionTraits(counted: RawEvent[]): Map<string, SessionTraits> {
  const bySession = groupBy(counted, (e) => e.session_id);
  const traits = new Map<string, SessionTraits>();
  for (const [sessionId, events] of bySession) {
    const ordered = [...events].sort(chronological);
    const first = ordered[0];
    if (first === undefined) continue;
    const utm = ordered.find((e) => e.utm_source !== null && e.utm_source !== "")?.utm_source;
    const host = ordered.map((e) => referrerHost(e.referrer)).find((h) => h !== null);
    const withAgent = ordered.find((e) => e.device_type !== null);
    traits.set(sessionId, {
      source: utm ?? host ?? "direct",
      device: withAgent?.device_type ?? "unknown",
      browser: withAgent === undefined ? "unknown" : (withAgent.browser ?? "Other"),
    });
  }
  return traits;
}

export function groupBy<T, K>(items: T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

// ---------------------------------------------------------------------------------------------
// Step visits and attribution

export interface StepVisit {
  entry: RawEvent;
  exit: RawEvent | null;
}

/** Visits to one step over all the funnel's sessions, paired as docs/metrics.md "Step visits". */
export function stepVisits(counted: RawEvent[], stepId: string): StepVisit[] {
  const moves = counted.filter(
    (e) => e.funnel_step_id === stepId && (e.event_type === "step_entry" || e.event_type === "step_exit"),
  );
  const visits: StepVisit[] = [];
  for (const events of groupBy(moves, (e) => e.session_id).values()) {
    const ordered = [...events].sort(
      (a, b) =>
        timeOf(a) - timeOf(b) ||
        (a.event_type === "step_entry" ? 0 : 1) - (b.event_type === "step_entry" ? 0 : 1) ||
        compareText(a.event_id, b.event_id),
    );
    let open: RawEvent | null = null;
    for (const e of ordered) {
      if (e.event_type === "step_entry") {
        if (open) visits.push({ entry: open, exit: null });
        open = e;
      } else if (open) {
        visits.push({ entry: open, exit: e });
        open = null;
      }
      // An exit with no entry right before it belongs to no visit.
    }
    if (open) visits.push({ entry: open, exit: null });
  }
  return visits;
}

/** Exited visits' durations in milliseconds. */
export function visitDurations(visits: StepVisit[]): number[] {
  const durations: number[] = [];
  for (const v of visits) if (v.exit) durations.push(timeOf(v.exit) - timeOf(v.entry));
  return durations;
}

export function meanSeconds(durationsMs: number[]): number {
  return average(sum(durationsMs), durationsMs.length * 1000);
}

export function medianSeconds(durationsMs: number[]): number {
  const sorted = [...durationsMs].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  const upper = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const lower = sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
  return roundHalfAway((lower + upper) / 2 / 1000);
}

/**
 * The step a conversion belongs to: its session's latest step_entry at or before it, over the whole
 * session; among entries of the same instant the greatest event_id. Null when there is none.
 */
export function attributedStepId(conversion: RawEvent, sessionEntries: RawEvent[]): string | null {
  let best: RawEvent | null = null;
  for (const entry of sessionEntries) {
    if (timeOf(entry) > timeOf(conversion)) continue;
    if (best === null || chronological(entry, best) > 0) best = entry;
  }
  return best?.funnel_step_id ?? null;
}

/** step_entry events by session, at any time, for attribution. */
export function entriesBySession(counted: RawEvent[]): Map<string, RawEvent[]> {
  return groupBy(
    counted.filter((e) => e.event_type === "step_entry"),
    (e) => e.session_id,
  );
}
