import { bucketStarts, splitByBucket } from "./buckets";
import {
  attributedStepId,
  average,
  chronological,
  compareText,
  countedEvents,
  entriesBySession,
  type Granularity,
  groupBy,
  inPeriod,
  iso,
  meanSeconds,
  medianSeconds,
  periodEcho,
  type RawEvent,
  type RefFunnel,
  type RefPeriod,
  type RefStep,
  rate,
  type SessionTraits,
  sessionTraits,
  stepsInOrder,
  stepVisits,
  sum,
  timeOf,
  visitDurations,
} from "./events";

/**
 * Reference implementation of the five report routes, computed from raw stored events exactly as
 * docs/metrics.md defines them. The integration test compares every field with the API's answer.
 */

export type { Granularity, RawEvent, RefFunnel, RefPeriod } from "./events";

const CONVERSION_TYPES = ["form_submit", "purchase", "signup", "custom"] as const;
const LEAVES_FUNNEL = new Set(["bounce", "close"]);
const EXIT_REASON_OUTCOMES = new Set(["bounce", "close", "backward"]);

/** What every report starts from: the funnel's counted events, at any time and in the period. */
interface Scope {
  funnel: RefFunnel;
  period: RefPeriod;
  steps: RefStep[];
  /** Non-bot events of the funnel at any time, oldest first. */
  counted: RawEvent[];
  /** Those inside the period. */
  current: RawEvent[];
}

function scope(events: RawEvent[], funnel: RefFunnel, period: RefPeriod): Scope {
  const counted = countedEvents(events, funnel.id);
  return {
    funnel,
    period,
    steps: stepsInOrder(funnel),
    counted,
    current: counted.filter((e) => inPeriod(timeOf(e), period)),
  };
}

const ofType = (events: RawEvent[], type: RawEvent["event_type"]) =>
  events.filter((e) => e.event_type === type);

const visitorsOf = (events: RawEvent[]) => new Set(events.map((e) => e.visitor_id));

const valueCents = (e: RawEvent) => e.value_cents ?? 0;

/** Sorted by count (or value) descending, then by label ascending. */
function mostFirst<T>(items: T[], count: (item: T) => number, label: (item: T) => string): T[] {
  return [...items].sort((a, b) => count(b) - count(a) || compareText(label(a), label(b)));
}

// ---------------------------------------------------------------------------------------------
// Step figures, shared by overview, step report and drop-offs

interface StepFigures {
  step: RefStep;
  isLast: boolean;
  entries: RawEvent[];
  exits: RawEvent[];
  dropOffExits: RawEvent[];
  visitors: Set<string>;
  /** Durations (ms) of the exited visits whose entry lies in the period. */
  durations: number[];
  conversionRate: number;
}

function stepFigures(s: Scope, step: RefStep): StepFigures {
  const isLast = s.steps.at(-1)?.id === step.id;
  const entries = ofType(s.current, "step_entry").filter((e) => e.funnel_step_id === step.id);
  const exits = ofType(s.current, "step_exit").filter((e) => e.funnel_step_id === step.id);
  const dropOffExits = isLast ? [] : exits.filter((e) => LEAVES_FUNNEL.has(e.exit_outcome ?? ""));
  const visitors = visitorsOf(entries);
  const visits = stepVisits(s.counted, step.id).filter((v) => inPeriod(timeOf(v.entry), s.period));

  const firstEntry = new Map<string, number>();
  for (const e of entries) {
    const seen = firstEntry.get(e.visitor_id);
    if (seen === undefined || timeOf(e) < seen) firstEntry.set(e.visitor_id, timeOf(e));
  }
  const latestConversion = new Map<string, number>();
  for (const c of ofType(s.current, "conversion")) {
    const seen = latestConversion.get(c.visitor_id);
    if (seen === undefined || timeOf(c) > seen) latestConversion.set(c.visitor_id, timeOf(c));
  }
  let converted = 0;
  for (const [visitor, entered] of firstEntry) {
    const convertedAt = latestConversion.get(visitor);
    if (convertedAt !== undefined && convertedAt >= entered) converted++;
  }

  return {
    step,
    isLast,
    entries,
    exits,
    dropOffExits,
    visitors,
    durations: visitDurations(visits),
    conversionRate: rate(converted, visitors.size),
  };
}

function stepRow(f: StepFigures) {
  return {
    step_id: f.step.id,
    step_name: f.step.name,
    step_type: f.step.step_type,
    visitors: f.visitors.size,
    entries: f.entries.length,
    exits: f.exits.length,
    drop_offs: f.dropOffExits.length,
    drop_off_rate: rate(f.dropOffExits.length, f.entries.length),
    avg_time_seconds: meanSeconds(f.durations),
    conversion_rate: f.conversionRate,
  };
}

/** Distinct visitors of the period (any counted event in it). */
const uniqueVisitors = (s: Scope) => visitorsOf(s.current);

// ---------------------------------------------------------------------------------------------
// Overview

export function overview(events: RawEvent[], funnel: RefFunnel, period: RefPeriod) {
  const s = scope(events, funnel, period);
  const unique = uniqueVisitors(s);

  const firstSeen = new Map<string, number>();
  for (const e of s.counted) {
    const seen = firstSeen.get(e.visitor_id);
    if (seen === undefined || timeOf(e) < seen) firstSeen.set(e.visitor_id, timeOf(e));
  }
  let fresh = 0;
  for (const visitor of unique) {
    const first = firstSeen.get(visitor);
    if (first !== undefined && inPeriod(first, period)) fresh++;
  }

  const conversionEvents = ofType(s.current, "conversion");
  const value = sum(conversionEvents.map(valueCents));

  return {
    funnel_id: funnel.id,
    funnel_name: funnel.name,
    period: periodEcho(period),
    visitors: {
      total: new Set(s.current.map((e) => e.session_id)).size,
      unique: unique.size,
      new: fresh,
      returning: unique.size - fresh,
    },
    conversions: {
      total: conversionEvents.length,
      rate: rate(visitorsOf(conversionEvents).size, unique.size),
      value_cents: value,
    },
    revenue: {
      total_cents: value,
      per_visitor_cents: average(value, unique.size),
      per_conversion_cents: average(value, conversionEvents.length),
    },
    steps: s.steps.map((step) => stepRow(stepFigures(s, step))),
  };
}

// ---------------------------------------------------------------------------------------------
// Step analytics

export function stepReport(
  events: RawEvent[],
  funnel: RefFunnel,
  stepId: string,
  period: RefPeriod,
  granularity: Granularity,
) {
  const s = scope(events, funnel, period);
  const step = s.steps.find((candidate) => candidate.id === stepId);
  if (!step) throw new Error(`step ${stepId} is not in funnel ${funnel.id}`);
  const f = stepFigures(s, step);

  const starts = bucketStarts(period, granularity);
  const visits = stepVisits(s.counted, step.id).filter((v) => inPeriod(timeOf(v.entry), period));
  const entriesByBucket = splitByBucket(starts, f.entries, timeOf);
  const exitsByBucket = splitByBucket(starts, f.exits, timeOf);
  const dropOffsByBucket = splitByBucket(starts, f.dropOffExits, timeOf);
  const visitsByBucket = splitByBucket(starts, visits, (v) => timeOf(v.entry));
  const overTime = starts.map((start, i) => {
    const entries = entriesByBucket[i] ?? [];
    return {
      timestamp: iso(start),
      visitors: visitorsOf(entries).size,
      entries: entries.length,
      exits: exitsByBucket[i]?.length ?? 0,
      drop_off_rate: rate(dropOffsByBucket[i]?.length ?? 0, entries.length),
      avg_time_seconds: meanSeconds(visitDurations(visitsByBucket[i] ?? [])),
    };
  });

  // A visitor counts once per distinct trait among the sessions in which it entered the step.
  const traits = sessionTraits(s.counted);
  const entriesByVisitor = groupBy(f.entries, (e) => e.visitor_id);
  const segment = (trait: keyof SessionTraits) => {
    const visitorsByValue = new Map<string, Set<string>>();
    for (const [visitor, visitorEntries] of entriesByVisitor) {
      for (const entry of visitorEntries) {
        const value = traits.get(entry.session_id)?.[trait];
        if (value === undefined) continue;
        const set = visitorsByValue.get(value) ?? new Set<string>();
        set.add(visitor);
        visitorsByValue.set(value, set);
      }
    }
    const rows = [...visitorsByValue].map(([value, set]) => ({ value, visitors: set.size }));
    return mostFirst(
      rows,
      (r) => r.visitors,
      (r) => r.value,
    )
      .slice(0, 10)
      .map((r) => ({ value: r.value, visitors: r.visitors, percentage: rate(r.visitors, f.visitors.size) }));
  };

  return {
    funnel_id: funnel.id,
    step_id: step.id,
    step_name: step.name,
    step_type: step.step_type,
    period: periodEcho(period),
    granularity,
    summary: {
      ...withoutIdentity(stepRow(f)),
      unique_visitors: f.visitors.size,
      median_time_seconds: medianSeconds(f.durations),
    },
    over_time: overTime,
    traffic_sources: segment("source").map(({ value, ...r }) => ({ source: value, ...r })),
    devices: segment("device").map(({ value, ...r }) => ({ device_type: value, ...r })),
    browsers: segment("browser").map(({ value, ...r }) => ({ browser: value, ...r })),
    entry_paths: paths(f.entries, (e) => e.previous_step_id).map(([id, count]) => ({
      previous_step_id: id,
      count,
    })),
    exit_paths: paths(f.exits, (e) => e.next_step_id).map(([id, count]) => ({ next_step_id: id, count })),
  };
}

function withoutIdentity(row: ReturnType<typeof stepRow>) {
  const { step_id: _id, step_name: _name, step_type: _type, ...figures } = row;
  return figures;
}

/** Counts by path, most frequent first; ties: null first, then by id. */
function paths(events: RawEvent[], key: (e: RawEvent) => string | null): [string | null, number][] {
  const counts = new Map<string | null, number>();
  for (const e of events) counts.set(key(e), (counts.get(key(e)) ?? 0) + 1);
  return [...counts].sort(([idA, a], [idB, b]) => {
    if (a !== b) return b - a;
    if (idA === null || idB === null) return idA === idB ? 0 : idA === null ? -1 : 1;
    return compareText(idA, idB);
  });
}

// ---------------------------------------------------------------------------------------------
// Conversions

/** Per listed step, the period's conversions (or orders) attributed to it. */
function attributeToSteps(s: Scope, conversionEvents: RawEvent[]): Map<string, RawEvent[]> {
  const entries = entriesBySession(s.counted);
  const byStep = new Map<string, RawEvent[]>(s.steps.map((step) => [step.id, []]));
  for (const c of conversionEvents) {
    const stepId = attributedStepId(c, entries.get(c.session_id) ?? []);
    if (stepId !== null) byStep.get(stepId)?.push(c);
  }
  return byStep;
}

export function conversions(
  events: RawEvent[],
  funnel: RefFunnel,
  period: RefPeriod,
  granularity: Granularity,
  page: number,
  pageSize: number,
) {
  const s = scope(events, funnel, period);
  const unique = uniqueVisitors(s);
  const conversionEvents = ofType(s.current, "conversion");
  const totalValue = sum(conversionEvents.map(valueCents));
  const carryingValue = conversionEvents.filter((c) => c.value_cents !== null).length;

  const attributed = attributeToSteps(s, conversionEvents);
  const byStep = s.steps.map((step) => {
    const stepConversions = attributed.get(step.id) ?? [];
    const stepVisitors = stepFigures(s, step).visitors;
    return {
      step_id: step.id,
      step_name: step.name,
      conversions: stepConversions.length,
      conversion_rate: rate(visitorsOf(stepConversions).size, stepVisitors.size),
    };
  });

  const starts = bucketStarts(period, granularity);
  const conversionsByBucket = splitByBucket(starts, conversionEvents, timeOf);
  const eventsByBucket = splitByBucket(starts, s.current, timeOf);
  const overTime = starts.map((start, i) => {
    const bucketConversions = conversionsByBucket[i] ?? [];
    return {
      timestamp: iso(start),
      conversions: bucketConversions.length,
      rate: rate(visitorsOf(bucketConversions).size, visitorsOf(eventsByBucket[i] ?? []).size),
      value_cents: sum(bucketConversions.map(valueCents)),
    };
  });

  const byVisitorSession = groupBy(conversionEvents, (c) => JSON.stringify([c.visitor_id, c.session_id]));
  const rows = [...byVisitorSession.values()].map((group) => {
    const ordered = [...group].sort(chronological);
    const first = ordered[0];
    const last = ordered.at(-1);
    if (!first || !last) throw new Error("empty conversion group");
    return {
      visitor_id: first.visitor_id,
      session_id: first.session_id,
      conversions: group.length,
      total_value_cents: sum(group.map(valueCents)),
      first_conversion_at: iso(timeOf(first)),
      last_conversion_at: iso(timeOf(last)),
    };
  });
  rows.sort(
    (a, b) =>
      Date.parse(b.last_conversion_at) - Date.parse(a.last_conversion_at) ||
      compareText(a.visitor_id, b.visitor_id) ||
      compareText(a.session_id, b.session_id),
  );

  return {
    funnel_id: funnel.id,
    period: periodEcho(period),
    granularity,
    summary: {
      total_conversions: conversionEvents.length,
      conversion_rate: rate(visitorsOf(conversionEvents).size, unique.size),
      total_value_cents: totalValue,
      avg_value_cents: average(totalValue, carryingValue),
    },
    by_type: CONVERSION_TYPES.map((type) => {
      const ofThisType = conversionEvents.filter((c) => c.conversion_type === type);
      return {
        conversion_type: type,
        count: ofThisType.length,
        rate: rate(visitorsOf(ofThisType).size, unique.size),
        value_cents: sum(ofThisType.map(valueCents)),
      };
    }),
    by_step: byStep,
    over_time: overTime,
    converting_visitors: rows.slice((page - 1) * pageSize, page * pageSize),
    pagination: { page, page_size: pageSize, total: rows.length },
  };
}

// ---------------------------------------------------------------------------------------------
// Drop-offs

export function dropoffs(events: RawEvent[], funnel: RefFunnel, period: RefPeriod) {
  const s = scope(events, funnel, period);
  const figures = s.steps.map((step) => stepFigures(s, step));
  const firstVisitors = figures[0]?.visitors.size ?? 0;
  // (first − step) ÷ first is the docs' 1 − step ÷ first, rounded once as one fraction.
  const cumulative = (f: StepFigures) => rate(firstVisitors - f.visitors.size, firstVisitors);
  const last = figures.at(-1);

  return {
    funnel_id: funnel.id,
    period: periodEcho(period),
    overall_drop_off_rate: last ? cumulative(last) : 0,
    steps_with_drop_off: figures
      .filter((f) => f.dropOffExits.length > 0)
      .map((f) => {
        const dropOffRate = rate(f.dropOffExits.length, f.entries.length);
        return {
          step_id: f.step.id,
          step_name: f.step.name,
          drop_offs: f.dropOffExits.length,
          drop_off_rate: dropOffRate,
          severity: dropOffRate >= 0.5 ? "high" : dropOffRate >= 0.25 ? "medium" : "low",
          common_exit_reasons: exitReasons(f.exits),
        };
      }),
    drop_off_funnel: figures.map((f) => ({
      step_id: f.step.id,
      step_name: f.step.name,
      visitors: f.visitors.size,
      drop_offs: f.dropOffExits.length,
      cumulative_drop_off_rate: cumulative(f),
    })),
  };
}

function exitReasons(exits: RawEvent[]) {
  const considered = exits.filter((e) => EXIT_REASON_OUTCOMES.has(e.exit_outcome ?? ""));
  const counts = new Map<string, number>();
  for (const e of considered) {
    const reason = e.metadata.reason;
    const key = typeof reason === "string" && reason !== "" ? reason : (e.exit_outcome ?? "");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return mostFirst(
    [...counts],
    ([, count]) => count,
    ([reason]) => reason,
  ).map(([reason, count]) => ({ reason, count, percentage: rate(count, considered.length) }));
}

// ---------------------------------------------------------------------------------------------
// Revenue

export function revenue(events: RawEvent[], funnel: RefFunnel, period: RefPeriod, granularity: Granularity) {
  const s = scope(events, funnel, period);
  const unique = uniqueVisitors(s);
  const conversionEvents = ofType(s.current, "conversion");
  const orders = conversionEvents.filter((c) => (c.value_cents ?? 0) > 0);
  const refunds = countedRefunds(s.counted).filter((r) => inPeriod(timeOf(r.refund), period));
  const total = sum(orders.map(valueCents));

  const traits = sessionTraits(s.counted);
  const bySource = new Map<string, number>();
  for (const o of orders) {
    const source = traits.get(o.session_id)?.source ?? "direct";
    bySource.set(source, (bySource.get(source) ?? 0) + valueCents(o));
  }

  const attributed = attributeToSteps(s, orders);
  const starts = bucketStarts(period, granularity);
  const ordersByBucket = splitByBucket(starts, orders, timeOf);

  return {
    funnel_id: funnel.id,
    period: periodEcho(period),
    granularity,
    summary: {
      total_revenue_cents: total,
      revenue_per_visitor_cents: average(total, unique.size),
      revenue_per_conversion_cents: average(total, conversionEvents.length),
      refund_rate: rate(refunds.length, orders.length),
      net_revenue_cents: total - sum(refunds.map((r) => r.cents)),
    },
    by_source: mostFirst(
      [...bySource],
      ([, cents]) => cents,
      ([source]) => source,
    ).map(([source, cents]) => ({ source, revenue_cents: cents, percentage: rate(cents, total) })),
    by_step: s.steps.map((step) => {
      const stepOrders = attributed.get(step.id) ?? [];
      const cents = sum(stepOrders.map(valueCents));
      return {
        step_id: step.id,
        step_name: step.name,
        revenue_cents: cents,
        orders: stepOrders.length,
        avg_order_value_cents: average(cents, stepOrders.length),
      };
    }),
    over_time: starts.map((start, i) => {
      const bucketOrders = ordersByBucket[i] ?? [];
      const cents = sum(bucketOrders.map(valueCents));
      return {
        timestamp: iso(start),
        revenue_cents: cents,
        orders: bucketOrders.length,
        avg_order_value_cents: average(cents, bucketOrders.length),
      };
    }),
    top_products: topProducts(orders),
  };
}

/**
 * The refunds that count, at any time, with what each counts (docs/metrics.md, "Refunds"). The
 * order of an order_id is the funnel's earliest conversion with that order_id and a value; going
 * through the refunds oldest first, each takes what is left of its order's value, at most what it
 * asks. A refund without an order, or with nothing left to take, counts nowhere.
 */
function countedRefunds(counted: RawEvent[]): { refund: RawEvent; cents: number }[] {
  const left = new Map<string, number>();
  for (const e of [...counted].sort(chronological)) {
    if (e.event_type !== "conversion" || e.order_id === null || valueCents(e) <= 0) continue;
    if (!left.has(e.order_id)) left.set(e.order_id, valueCents(e));
  }
  const result: { refund: RawEvent; cents: number }[] = [];
  for (const refund of ofType(counted, "refund").sort(chronological)) {
    const remaining = refund.order_id === null ? undefined : left.get(refund.order_id);
    if (remaining === undefined || refund.order_id === null) continue;
    const cents = Math.min(valueCents(refund), remaining);
    left.set(refund.order_id, remaining - cents);
    if (cents > 0) result.push({ refund, cents });
  }
  return result;
}

interface ProductTotals {
  product_id: string;
  product_name: string;
  revenue_cents: number;
  units_sold: number;
}

function topProducts(orders: RawEvent[]): ProductTotals[] {
  const products = new Map<string, ProductTotals>();
  // Oldest order first, so the name left standing is the latest order's.
  for (const order of [...orders].sort(chronological)) {
    const items = order.metadata.products;
    if (!Array.isArray(items)) continue;
    // Array.isArray narrows to any[]; the items are untrusted JSON.
    for (const item of items as unknown[]) {
      if (typeof item !== "object" || item === null) continue;
      const {
        product_id: id,
        product_name: name,
        quantity,
        price_cents: price,
      } = item as Record<string, unknown>;
      if (typeof id !== "string") continue;
      if (typeof quantity !== "number" || !Number.isFinite(quantity)) continue;
      if (typeof price !== "number" || !Number.isFinite(price)) continue;
      const totals = products.get(id) ?? {
        product_id: id,
        product_name: id,
        revenue_cents: 0,
        units_sold: 0,
      };
      totals.revenue_cents += quantity * price;
      totals.units_sold += quantity;
      if (typeof name === "string") totals.product_name = name;
      products.set(id, totals);
    }
  }
  return mostFirst(
    [...products.values()],
    (p) => p.revenue_cents,
    (p) => p.product_id,
  ).slice(0, 20);
}
