import { index, integer, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { accounts } from "./accounts";
import { timestamps } from "./columns";

export const funnels = pgTable(
  "funnels",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    ...timestamps,
  },
  (t) => [index("idx_funnels_account_id").on(t.accountId)],
);

export const funnelSteps = pgTable(
  "funnel_steps",
  {
    id: uuid("id").primaryKey(),
    funnelId: uuid("funnel_id")
      .notNull()
      .references(() => funnels.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    stepType: text("step_type").notNull(),
    position: integer("position").notNull(),
  },
  (t) => [index("idx_funnel_steps_funnel_id").on(t.funnelId, t.position)],
);

export const pages = pgTable(
  "pages",
  {
    id: uuid("id").primaryKey(),
    funnelId: uuid("funnel_id")
      .notNull()
      .references(() => funnels.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    url: text("url"),
  },
  (t) => [index("idx_pages_funnel_id").on(t.funnelId)],
);
