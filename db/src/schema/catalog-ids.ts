import { sql } from "drizzle-orm";
import { check, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

/** The kinds of client-chosen catalog ids; each kind is its own id space, as its table is. */
export const CATALOG_ID_KINDS = ["funnel", "step", "page", "ab_test", "variant"] as const;
export type CatalogIdKind = (typeof CATALOG_ID_KINDS)[number];

/**
 * Every catalog id ever used, bound to the account that first used it. Catalog ids are chosen by
 * the client and public (a tracked page names its funnel, steps, pages and variants), while events
 * and rollups stay after their funnel is deleted: an id freed by a delete could be taken by another
 * account, which would then be answered the first account's history and receive its traffic. So a
 * row is written by every catalog upsert and removed by nothing: a deleted funnel, step, page, test
 * or variant keeps its owner, who alone may use the id again.
 *
 * No foreign key to accounts: an account's events outlive it (analytics_events has none either),
 * and so must the binding of its ids, or another account could take them over.
 */
export const catalogIds = pgTable(
  "catalog_ids",
  {
    kind: text("kind", { enum: CATALOG_ID_KINDS }).notNull(),
    id: uuid("id").notNull(),
    accountId: uuid("account_id").notNull(),
    firstUsedAt: timestamp("first_used_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.kind, t.id] }),
    check(
      "catalog_ids_kind",
      sql`${t.kind} in (${sql.raw(CATALOG_ID_KINDS.map((k) => `'${k}'`).join(", "))})`,
    ),
  ],
);
