import { pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { accounts } from "./accounts";

/**
 * Visitors whose consent was withdrawn (CONTRACT.md "Privacy"), per account. Only a SHA-256 of the
 * visitor id is kept: enough for the ingest writer to anonymise events of that visitor that arrive
 * later, nothing that names the visitor. The anonymous id its events were given is not kept, so
 * nothing leads from the visitor id to them.
 */
export const consentWithdrawals = pgTable(
  "consent_withdrawals",
  {
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    /** Hex SHA-256 of the lower-cased visitor id. */
    visitorHash: text("visitor_hash").notNull(),
    withdrawnAt: timestamp("withdrawn_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.visitorHash] })],
);
