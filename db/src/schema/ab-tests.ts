import { boolean, index, integer, jsonb, pgTable, timestamp, uuid, varchar } from "drizzle-orm/pg-core";
import { accounts } from "./accounts";
import { funnels, pages } from "./funnels";

export const abTests = pgTable(
  "ab_tests",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    funnelId: uuid("funnel_id")
      .notNull()
      .references(() => funnels.id, { onDelete: "cascade" }),
    testName: varchar("test_name", { length: 255 }).notNull(),
    status: varchar("status", { length: 20 }).notNull().default("running"),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp("completed_at", { withTimezone: true }),
    winnerVariantId: uuid("winner_variant_id"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("idx_ab_tests_account_id").on(t.accountId), index("idx_ab_tests_funnel_id").on(t.funnelId)],
);

export const abTestVariants = pgTable(
  "ab_test_variants",
  {
    id: uuid("id").primaryKey(),
    testId: uuid("test_id")
      .notNull()
      .references(() => abTests.id, { onDelete: "cascade" }),
    variantName: varchar("variant_name", { length: 100 }).notNull(),
    isControl: boolean("is_control").notNull().default(false),
    pageId: uuid("page_id").references(() => pages.id, { onDelete: "set null" }),
    config: jsonb("config").notNull().default({}),
    trafficSplit: integer("traffic_split").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("idx_ab_test_variants_test_id").on(t.testId)],
);
