import { bigint, index, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * Rollups kept by the ingest worker in the same transaction as the events they count, so a report
 * never sees one without the other. Buckets are UTC hours: every whole-hour time zone can regroup
 * them into its own days and weeks. Bots are not counted.
 */

/** Event counts and value per hour, keyed by what reports group by. */
export const hourlyEventCounts = pgTable(
  "agg_hourly_event_counts",
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
    // Named: the generated name is longer than PostgreSQL's 63-character identifier limit.
    primaryKey({
      name: "agg_hourly_event_counts_pk",
      columns: [t.funnelId, t.bucket, t.eventType, t.stepId, t.conversionType, t.exitOutcome],
    }),
  ],
);

/** Which visitor had which session in which hour: exact distinct visitors and sessions. */
export const hourlyVisitors = pgTable(
  "agg_hourly_visitors",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    visitorId: uuid("visitor_id").notNull(),
    sessionId: text("session_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.funnelId, t.bucket, t.visitorId, t.sessionId] })],
);

/** Which visitor entered which step in which hour: exact distinct step visitors. */
export const hourlyStepVisitors = pgTable(
  "agg_hourly_step_visitors",
  {
    accountId: uuid("account_id").notNull(),
    funnelId: uuid("funnel_id").notNull(),
    stepId: uuid("step_id").notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    visitorId: uuid("visitor_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.funnelId, t.stepId, t.bucket, t.visitorId] })],
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
