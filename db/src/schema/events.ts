import { sql } from "drizzle-orm";
import {
  bigserial,
  boolean,
  index,
  inet,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";

/**
 * The columns of a stored event, fresh builders on every call: the event store and the rollup
 * backlog (ingest.ts) hold the same rows.
 */
export const eventColumns = () => ({
  eventId: uuid("event_id").notNull(),
  accountId: uuid("account_id").notNull(),
  funnelId: uuid("funnel_id").notNull(),
  eventType: varchar("event_type", { length: 50 }).notNull(),
  visitorId: uuid("visitor_id").notNull(),
  sessionId: varchar("session_id", { length: 100 }).notNull(),
  pageId: uuid("page_id"),
  funnelStepId: uuid("funnel_step_id"),
  previousStepId: uuid("previous_step_id"),
  conversionType: varchar("conversion_type", { length: 50 }),
  valueCents: integer("value_cents"),
  conversionGoalId: uuid("conversion_goal_id"),
  orderId: varchar("order_id", { length: 100 }),
  variantId: uuid("variant_id"),
  url: text("url"),
  userAgent: text("user_agent"),
  ipAddress: inet("ip_address"),
  referrer: text("referrer"),
  utmSource: varchar("utm_source", { length: 255 }),
  utmMedium: varchar("utm_medium", { length: 255 }),
  utmCampaign: varchar("utm_campaign", { length: 255 }),
  exitOutcome: varchar("exit_outcome", { length: 20 }),
  nextStepId: uuid("next_step_id"),
  deviceType: varchar("device_type", { length: 10 }),
  browser: varchar("browser", { length: 64 }),
  os: varchar("os", { length: 64 }),
  country: varchar("country", { length: 2 }),
  isBot: boolean("is_bot").notNull().default(false),
  metadata: jsonb("metadata").notNull().default({}),
  receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * The event store. `created_at` is the event time (METRICS.md), the partitioning column: a
 * TimescaleDB hypertable where the extension exists, else native monthly range partitions
 * (see the custom migration). `event_id` is the event's identity (the spec's `id`).
 */
export const analyticsEvents = pgTable("analytics_events", eventColumns(), (t) => [
  index("idx_analytics_events_account_funnel").on(t.accountId, t.funnelId, t.createdAt),
  index("idx_analytics_events_visitor_id").on(t.visitorId),
  index("idx_analytics_events_session_id").on(t.sessionId),
  index("idx_analytics_events_created_at").on(t.createdAt),
  index("idx_analytics_events_type").on(t.eventType),
]);

/**
 * Every event id ever stored, per account. A unique index on the events table would have to
 * include `created_at`, and a retried event without a client timestamp gets a new receive time,
 * so dedupe rests on this table instead. Rows are dropped with the retention window.
 */
export const eventIds = pgTable(
  "event_ids",
  {
    accountId: uuid("account_id").notNull(),
    eventId: uuid("event_id").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.accountId, t.eventId] }),
    index("idx_event_ids_created_at").on(t.createdAt),
  ],
);

/** Events refused after acceptance or at validation, with the reason, for operators. */
export const rejectedEvents = pgTable(
  "rejected_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    accountId: uuid("account_id"),
    funnelId: uuid("funnel_id"),
    /** `invalid` (failed validation) or `unknown_funnel` (not in the catalog). */
    reason: varchar("reason", { length: 40 }).notNull(),
    errors: jsonb("errors").notNull().default([]),
    payload: jsonb("payload").notNull(),
    /** `track`, `import` or `edge`. */
    source: varchar("source", { length: 20 }).notNull(),
    /** The ingest job that refused it and the item's key in that job (`invalid:<index>` or
     * `event:<event_id>`): a retried job stores its refused items once. */
    batchId: uuid("batch_id"),
    itemKey: text("item_key"),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("idx_rejected_events_received_at").on(t.receivedAt),
    index("idx_rejected_events_funnel").on(t.funnelId),
    uniqueIndex("idx_rejected_events_batch_item").on(t.batchId, t.itemKey),
    // Consent withdrawal finds a visitor's refused events by the visitor id in their payload.
    index("idx_rejected_events_visitor").on(t.accountId, sql`lower(${t.payload} ->> 'visitor_id')`),
  ],
);
