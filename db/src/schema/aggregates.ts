import { sql } from "drizzle-orm";
import {
  bigint,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";

/**
 * What reports read instead of raw events, kept by the ingest worker in the same transaction as
 * the events they describe, so a report never sees one without the other. Bots are not counted.
 *
 * Time-bucketed tables use UTC quarter hours: every time zone in use has an offset that is a whole
 * number of quarter hours, so any zone's hours, days and weeks are unions of them. The parts of a
 * period that do not start or end on a quarter hour are read from raw events (at most 15 minutes
 * at each end). The other tables keep exact times.
 */

/** Event counts and value per quarter hour, keyed by what reports group by. */
export const eventCounts = pgTable(
  "agg_event_counts",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    eventType: text("event_type").notNull(),
    /** NO_STEP when the event has no step. */
    stepId: uuid("step_id").notNull(),
    /** Empty string when not a conversion. */
    conversionType: text("conversion_type").notNull(),
    /** Empty string when not a step exit. */
    exitOutcome: text("exit_outcome").notNull(),
    events: bigint("events", { mode: "number" }).notNull(),
    valueCents: bigint("value_cents", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_event_counts_pk",
      columns: [t.funnelId, t.bucket, t.eventType, t.stepId, t.conversionType, t.exitOutcome],
    }),
  ],
);

/** Which visitor had which session in which quarter hour: exact distinct visitors and sessions. */
export const sessionBuckets = pgTable(
  "agg_session_buckets",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    visitorId: uuid("visitor_id").notNull(),
    sessionId: text("session_id").notNull(),
  },
  (t) => [
    primaryKey({ name: "agg_session_buckets_pk", columns: [t.funnelId, t.bucket, t.visitorId, t.sessionId] }),
  ],
);

/** Which visitor entered which step in which session and quarter hour, and when first. */
export const stepBuckets = pgTable(
  "agg_step_buckets",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    stepId: uuid("step_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    visitorId: uuid("visitor_id").notNull(),
    sessionId: text("session_id").notNull(),
    firstEntryAt: timestamp("first_entry_at", { withTimezone: true }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_step_buckets_pk",
      columns: [t.funnelId, t.stepId, t.bucket, t.visitorId, t.sessionId],
    }),
  ],
);

/** First and last event time of each visitor in each funnel: new versus returning visitors. */
export const funnelVisitors = pgTable(
  "agg_funnel_visitors",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    visitorId: uuid("visitor_id").notNull(),
    firstSeenAt: timestamp("first_seen_at", { withTimezone: true }).notNull(),
    lastSeenAt: timestamp("last_seen_at", { withTimezone: true }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.funnelId, t.visitorId] }),
    index("idx_agg_funnel_visitors_first_seen").on(t.funnelId, t.firstSeenAt),
  ],
);

/**
 * First and last entry of each visitor into each step: a period that holds a visitor's first entry,
 * or its last, counts the visitor without reading its days; only visitors whose entries straddle
 * the whole period are looked up in agg_step_visits (db/src/queries/reports.ts, stepVisitors).
 */
export const stepVisitorSpans = pgTable(
  "agg_step_visitors",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    stepId: uuid("step_id").notNull(),
    visitorId: uuid("visitor_id").notNull(),
    firstEntryAt: timestamp("first_entry_at", { withTimezone: true }).notNull(),
    lastEntryAt: timestamp("last_entry_at", { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ name: "agg_step_visitors_pk", columns: [t.funnelId, t.stepId, t.visitorId] })],
);

/**
 * First and last conversion of each visitor in each funnel: the visitors converting in a period,
 * and their last conversion there, without grouping the period's conversions (stepVisitors).
 */
export const converterSpans = pgTable(
  "agg_converters",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    visitorId: uuid("visitor_id").notNull(),
    firstConversionAt: timestamp("first_conversion_at", { withTimezone: true }).notNull(),
    lastConversionAt: timestamp("last_conversion_at", { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ name: "agg_converters_pk", columns: [t.funnelId, t.visitorId] })],
);

/**
 * One row per counted session: its traffic source and its device and browser (docs/metrics.md).
 * Each attribute keeps the time of the event it came from, so that an earlier event arriving later
 * replaces it: the row does not depend on the order events arrive in. Device and browser come from
 * the first event that carried a user agent (`agent_at`); `unknown` while none has.
 */
export const sessions = pgTable(
  "agg_sessions",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    sessionId: text("session_id").notNull(),
    visitorId: uuid("visitor_id").notNull(),
    firstAt: timestamp("first_at", { withTimezone: true }).notNull(),
    firstEventId: uuid("first_event_id").notNull(),
    deviceType: varchar("device_type", { length: 10 }).notNull(),
    browser: varchar("browser", { length: 64 }).notNull(),
    agentAt: timestamp("agent_at", { withTimezone: true }),
    agentEventId: uuid("agent_event_id"),
    utmAt: timestamp("utm_at", { withTimezone: true }),
    utmEventId: uuid("utm_event_id"),
    utmSource: varchar("utm_source", { length: 255 }),
    referrerAt: timestamp("referrer_at", { withTimezone: true }),
    referrerEventId: uuid("referrer_event_id"),
    referrerHost: varchar("referrer_host", { length: 255 }),
  },
  (t) => [primaryKey({ name: "agg_sessions_pk", columns: [t.funnelId, t.sessionId, t.visitorId] })],
);

/**
 * Sessions in which an event carried a known bot's user agent: none of their events count in any
 * report (docs/metrics.md), whichever of them arrived first. `seen_at` is the first such event's time.
 */
export const botSessions = pgTable(
  "agg_bot_sessions",
  {
    accountId: uuid("account_id").notNull(),
    sessionId: text("session_id").notNull(),
    seenAt: timestamp("seen_at", { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ name: "agg_bot_sessions_pk", columns: [t.accountId, t.sessionId] })],
);

/** The step entries and exits, narrow: what step visits are derived from, session by session. */
export const stepEvents = pgTable(
  "agg_step_events",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    sessionId: text("session_id").notNull(),
    visitorId: uuid("visitor_id").notNull(),
    stepId: uuid("step_id").notNull(),
    eventId: uuid("event_id").notNull(),
    at: timestamp("at", { withTimezone: true }).notNull(),
    /** `entry` or `exit`. */
    kind: varchar("kind", { length: 5 }).notNull(),
    previousStepId: uuid("previous_step_id"),
    nextStepId: uuid("next_step_id"),
    exitOutcome: varchar("exit_outcome", { length: 20 }),
    /** `metadata.reason` of an exit, when a non-empty string. */
    reason: varchar("reason", { length: 100 }),
  },
  (t) => [
    primaryKey({ name: "agg_step_events_pk", columns: [t.funnelId, t.sessionId, t.eventId] }),
    index("idx_agg_step_events_step_at").on(t.funnelId, t.stepId, t.at),
  ],
);

/** Step visits (docs/metrics.md): an entry and the exit that closed it, if any. */
export const stepVisits = pgTable(
  "agg_step_visits",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    sessionId: text("session_id").notNull(),
    visitorId: uuid("visitor_id").notNull(),
    stepId: uuid("step_id").notNull(),
    entryEventId: uuid("entry_event_id").notNull(),
    entryAt: timestamp("entry_at", { withTimezone: true }).notNull(),
    exitAt: timestamp("exit_at", { withTimezone: true }),
    exitOutcome: varchar("exit_outcome", { length: 20 }),
    durationMs: bigint("duration_ms", { mode: "number" }),
    /** The session's traffic source, device and browser (agg_sessions), kept right as it changes. */
    source: text("source").notNull(),
    deviceType: varchar("device_type", { length: 10 }).notNull(),
    browser: varchar("browser", { length: 64 }).notNull(),
  },
  (t) => [
    primaryKey({ name: "agg_step_visits_pk", columns: [t.funnelId, t.sessionId, t.entryEventId] }),
    // Migration 0016 adds INCLUDE (visitor_id, source, device_type, browser, duration_ms, exit_at).
    index("idx_agg_step_visits_step_entry").on(t.funnelId, t.stepId, t.entryAt),
    index("idx_agg_step_visits_visitor").on(t.funnelId, t.visitorId, t.stepId, t.entryAt),
  ],
);

/**
 * Conversions and refunds, narrow, with the step each conversion belongs to (its session's latest
 * step entry at or before it), kept right as entries arrive out of order.
 *
 * A refund counts only against its order: the funnel's earliest conversion with a value above 0
 * and the same order_id, of the same account; the order's refunds, oldest first, take its value
 * until none is left (docs/metrics.md, "Refunds"). Derived again for every order a write touches,
 * so the order in which a purchase and its refunds arrive does not matter.
 */
export const conversions = pgTable(
  "agg_conversions",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    eventId: uuid("event_id").notNull(),
    sessionId: text("session_id").notNull(),
    visitorId: uuid("visitor_id").notNull(),
    at: timestamp("at", { withTimezone: true }).notNull(),
    /**
     * `conversion`; `refund`, a refund that counts (some of its value); `refund_held`, a refund kept
     * aside that counts nothing (held_reason says why), until its order arrives.
     */
    kind: varchar("kind", { length: 16 }).notNull(),
    conversionType: varchar("conversion_type", { length: 50 }),
    /** A conversion's value; a refund's value that counts (0 when held), at most `asked_cents`. */
    valueCents: integer("value_cents"),
    orderId: varchar("order_id", { length: 100 }),
    /** `metadata.products` of an order (value > 0), when an array. */
    products: jsonb("products"),
    stepId: uuid("step_id"),
    /**
     * A conversion's traffic source: its session's (utm source, else referrer host, else direct),
     * kept up to date with the session's row; null for refunds. Set with step_id, when the
     * conversion is counted in agg_conversions_daily.
     */
    source: text("source"),
    /** A refund's value as the refund event asked it; null for conversions. */
    askedCents: integer("asked_cents"),
    /**
     * Why a refund counts less than it asked: `no_order` (no order with its order_id stored yet),
     * `exceeds_order` (its order's value is refunded already); null when it counts whole.
     */
    heldReason: varchar("held_reason", { length: 20 }),
  },
  (t) => [
    primaryKey({ name: "agg_conversions_pk", columns: [t.funnelId, t.eventId] }),
    index("idx_agg_conversions_kind_at").on(t.funnelId, t.kind, t.at),
    index("idx_agg_conversions_visitor").on(t.funnelId, t.visitorId, t.at),
    index("idx_agg_conversions_session").on(t.funnelId, t.sessionId),
    // An order's purchases and refunds, found together when a write touches the order.
    index("idx_agg_conversions_order")
      .on(t.accountId, t.funnelId, t.orderId)
      .where(sql`${t.orderId} is not null`),
  ],
);

/**
 * Coarser copies of the quarter-hour tables, so that a year is a few hundred rows per key rather
 * than thirty-five thousand. A report reads the coarsest level whose buckets fit inside the period
 * (and inside its own time buckets), and finer levels for the rest (db/src/queries/reports.ts).
 */
export const hourlyEventCounts = pgTable(
  "agg_event_counts_hourly",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    eventType: text("event_type").notNull(),
    stepId: uuid("step_id").notNull(),
    conversionType: text("conversion_type").notNull(),
    exitOutcome: text("exit_outcome").notNull(),
    events: bigint("events", { mode: "number" }).notNull(),
    valueCents: bigint("value_cents", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_event_counts_hourly_pk",
      columns: [t.funnelId, t.bucket, t.eventType, t.stepId, t.conversionType, t.exitOutcome],
    }),
  ],
);

export const dailyEventCounts = pgTable(
  "agg_event_counts_daily",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    eventType: text("event_type").notNull(),
    stepId: uuid("step_id").notNull(),
    conversionType: text("conversion_type").notNull(),
    exitOutcome: text("exit_outcome").notNull(),
    events: bigint("events", { mode: "number" }).notNull(),
    valueCents: bigint("value_cents", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_event_counts_daily_pk",
      columns: [t.funnelId, t.bucket, t.eventType, t.stepId, t.conversionType, t.exitOutcome],
    }),
  ],
);

export const dailySessionBuckets = pgTable(
  "agg_session_buckets_daily",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    visitorId: uuid("visitor_id").notNull(),
    sessionId: text("session_id").notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_session_buckets_daily_pk",
      columns: [t.funnelId, t.bucket, t.visitorId, t.sessionId],
    }),
  ],
);

export const dailyStepBuckets = pgTable(
  "agg_step_buckets_daily",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    stepId: uuid("step_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    visitorId: uuid("visitor_id").notNull(),
    sessionId: text("session_id").notNull(),
    firstEntryAt: timestamp("first_entry_at", { withTimezone: true }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_step_buckets_daily_pk",
      columns: [t.funnelId, t.stepId, t.bucket, t.visitorId, t.sessionId],
    }),
  ],
);

/** Exited step visits per step and UTC day of their entry: count and total time. */
export const dailyStepTimes = pgTable(
  "agg_step_times_daily",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    stepId: uuid("step_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    visits: bigint("visits", { mode: "number" }).notNull(),
    totalMs: bigint("total_ms", { mode: "number" }).notNull(),
  },
  (t) => [primaryKey({ name: "agg_step_times_daily_pk", columns: [t.funnelId, t.stepId, t.bucket] })],
);

/**
 * Step visits per step, UTC day of their entry and segment of their session (dimension `source`,
 * `device` or `browser`): visits, and those that dropped off (exit outcome bounce or close).
 */
export const dailyStepSegments = pgTable(
  "agg_step_segments_daily",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    stepId: uuid("step_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    dimension: varchar("dimension", { length: 10 }).notNull(),
    value: text("value").notNull(),
    visits: bigint("visits", { mode: "number" }).notNull(),
    drops: bigint("drops", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_step_segments_daily_pk",
      columns: [t.funnelId, t.stepId, t.bucket, t.dimension, t.value],
    }),
  ],
);

/**
 * Step entries and exits per step and UTC day, by the step before (entries) or after (exits), and
 * for exits by outcome and reason: paths and exit reasons over a long period in a few rows a day.
 */
export const dailyStepPaths = pgTable(
  "agg_step_paths_daily",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    stepId: uuid("step_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    /** `entry` or `exit`. */
    kind: varchar("kind", { length: 5 }).notNull(),
    /** previous_step_id of an entry, next_step_id of an exit; NO_STEP when none. */
    otherStepId: uuid("other_step_id").notNull(),
    /** '' when none. */
    exitOutcome: varchar("exit_outcome", { length: 20 }).notNull(),
    /** '' when none. */
    reason: varchar("reason", { length: 100 }).notNull(),
    events: bigint("events", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_step_paths_daily_pk",
      columns: [t.funnelId, t.stepId, t.bucket, t.kind, t.otherStepId, t.exitOutcome, t.reason],
    }),
  ],
);

/**
 * Products of orders per UTC day of the order: revenue (quantity × price_cents) and units, and the
 * name of the latest order (by time, then event id) that gave one, with that order's time and id.
 */
export const dailyProducts = pgTable(
  "agg_products_daily",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    productId: text("product_id").notNull(),
    revenue: numeric("revenue").notNull(),
    units: numeric("units").notNull(),
    name: text("name"),
    nameAt: timestamp("name_at", { withTimezone: true }),
    nameEventId: uuid("name_event_id"),
  },
  (t) => [primaryKey({ name: "agg_products_daily_pk", columns: [t.funnelId, t.bucket, t.productId] })],
);

/**
 * Per converting session of a funnel visitor: its conversions' first and last time, count and
 * value. A period holding both times counts the session as a whole; only sessions crossing a
 * period's bounds (found by the range index) are read from agg_conversions.
 */
export const convertingSessions = pgTable(
  "agg_converting_sessions",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    sessionId: text("session_id").notNull(),
    visitorId: uuid("visitor_id").notNull(),
    firstAt: timestamp("first_at", { withTimezone: true }).notNull(),
    lastAt: timestamp("last_at", { withTimezone: true }).notNull(),
    conversions: bigint("conversions", { mode: "number" }).notNull(),
    valueCents: bigint("value_cents", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({ name: "agg_converting_sessions_pk", columns: [t.funnelId, t.sessionId, t.visitorId] }),
    index("idx_agg_converting_sessions_last").on(t.funnelId, t.lastAt, t.firstAt),
    index("idx_agg_converting_sessions_span").using("gist", sql`tstzrange(${t.firstAt}, ${t.lastAt}, '[]')`),
  ],
);

/**
 * Conversions and refunds per UTC day, type, step and source (agg_conversions' step_id and source;
 * NO_STEP and '' when none): counts and values, so that a long period reads a few rows per day.
 * Kept equal to agg_conversions by the worker as steps and sources are derived again.
 */
export const dailyConversions = pgTable(
  "agg_conversions_daily",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    /** `conversion` or `refund`. */
    kind: varchar("kind", { length: 10 }).notNull(),
    conversionType: text("conversion_type").notNull(),
    stepId: uuid("step_id").notNull(),
    source: text("source").notNull(),
    conversions: bigint("conversions", { mode: "number" }).notNull(),
    valueCents: bigint("value_cents", { mode: "number" }).notNull(),
    /** Conversions that carry a value. */
    valued: bigint("valued", { mode: "number" }).notNull(),
    /** Conversions with a value above 0, and their value. */
    orders: bigint("orders", { mode: "number" }).notNull(),
    orderCents: bigint("order_cents", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_conversions_daily_pk",
      columns: [t.funnelId, t.bucket, t.kind, t.conversionType, t.stepId, t.source],
    }),
  ],
);

/**
 * The UTC days each counted unit was seen on in a funnel: a visitor (kind 0, any event), a session
 * (kind 1, by session id), a visitor entering a step (kind 2) or converting (kind 3). `unit` is the visitor or session id;
 * step_id is NO_STEP except for kind 2. With agg_day_links, distinct units over whole days.
 */
export const activeDays = pgTable(
  "agg_active_days",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    unit: text("unit").notNull(),
    kind: smallint("kind").notNull(),
    stepId: uuid("step_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_active_days_pk",
      columns: [t.funnelId, t.unit, t.kind, t.stepId, t.bucket],
    }),
  ],
);

/**
 * Units per (day, the unit's previous day seen): each day a unit was seen on (agg_active_days),
 * linked to the day it was seen before ('-infinity' for its first). A unit is seen in the days
 * [D1, D2) exactly when one of its days there has its previous day before D1, and only one does
 * (its first day there); so distinct units over a range of whole days are a sum over the range's
 * rows, and their number follows the days, not the units.
 */
export const dayLinks = pgTable(
  "agg_day_links",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    kind: smallint("kind").notNull(),
    stepId: uuid("step_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    prevBucket: timestamp("prev_bucket", { withTimezone: true }).notNull(),
    units: bigint("units", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_day_links_pk",
      columns: [t.funnelId, t.kind, t.stepId, t.bucket, t.prevBucket],
    }),
  ],
);

/**
 * Per visitor, step and UTC day with a conversion: that day's last conversion, the next day the
 * visitor converts ('infinity' when none) and the day of the visitor's latest entry into the step
 * at or before that conversion (rows only where there is one). In whole days [D1, D2) the visitor's
 * last conversion falls on the row's day when D1 <= day < D2 <= next day, and a first entry into the
 * step in the period precedes it exactly when the entry's day >= D1.
 */
export const stepConverted = pgTable(
  "agg_step_converted",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    visitorId: uuid("visitor_id").notNull(),
    stepId: uuid("step_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    nextBucket: timestamp("next_bucket", { withTimezone: true }).notNull(),
    entryBucket: timestamp("entry_bucket", { withTimezone: true }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_step_converted_pk",
      columns: [t.funnelId, t.visitorId, t.stepId, t.bucket],
    }),
  ],
);

/** agg_step_converted counted per (step, day, next day, entry day): step visitors who converted. */
export const stepConvertedDays = pgTable(
  "agg_step_converted_days",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    stepId: uuid("step_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    nextBucket: timestamp("next_bucket", { withTimezone: true }).notNull(),
    entryBucket: timestamp("entry_bucket", { withTimezone: true }).notNull(),
    visitors: bigint("visitors", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({
      name: "agg_step_converted_days_pk",
      columns: [t.funnelId, t.stepId, t.bucket, t.nextBucket, t.entryBucket],
    }),
  ],
);
