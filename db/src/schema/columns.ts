import { timestamp, uuid } from "drizzle-orm/pg-core";

/** Columns every account-scoped catalog table carries. */
export const accountScoped = {
  accountId: uuid("account_id").notNull(),
};

export const timestamps = {
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
};

/** The nil UUID stands for "no step" in aggregate keys, which cannot hold NULL. */
export const NO_STEP = "00000000-0000-0000-0000-000000000000";
