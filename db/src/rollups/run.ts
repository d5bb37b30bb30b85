import { type SQL, sql } from "drizzle-orm";
import { type Database, queryRows } from "../client";
import { countedEvent } from "../queries/bot-sessions";
import { EVENT_ROLLUPS, type EventRollup, type Merge } from "./registry";

/**
 * The SQL of a registered rollup (registry.ts): one select computes its rows from a set of counted
 * events, and serves both the deriver's batch (added to the stored rows by each measure's merge)
 * and a rebuild (the rows of all of an account's stored events).
 */

/** The rollup's rows from the events of `source` (a relation aliased `e`): account, key columns, measures. */
function rowsOf(rollup: EventRollup, source: SQL): SQL {
  const keys = rollup.key.map((k) => (k === "funnel_id" ? "e.funnel_id" : rollup.keyOf[k]));
  const measures = Object.values(rollup.measures).map((m) => m.of);
  const groups = keys.map((_, i) => i + 2);
  return sql`select e.account_id, ${sql.raw([...keys, ...measures].join(", "))}
    from ${source}
    ${rollup.where === undefined ? sql`` : sql`where ${sql.raw(rollup.where)}`}
    group by 1, ${sql.raw(groups.join(", "))}
    order by ${sql.raw(groups.join(", "))}`;
}

function columns(rollup: EventRollup): SQL {
  return sql.raw(["account_id", ...rollup.key, ...Object.keys(rollup.measures)].join(", "));
}

const MERGE: Record<Merge, (column: string) => string> = {
  sum: (c) => `${c} = t.${c} + excluded.${c}`,
  least: (c) => `${c} = least(t.${c}, excluded.${c})`,
  greatest: (c) => `${c} = greatest(t.${c}, excluded.${c})`,
};

/**
 * Adds the rows of the events in `source` (a relation of the events table's shape aliased `e`,
 * holding only counted events) to the stored ones, in key order: a row with a stored key merges
 * into it, a set of keys keeps the one it has.
 */
export function keepUpSql(rollup: EventRollup, source: SQL): SQL {
  const merges = Object.entries(rollup.measures).map(([column, m]) => MERGE[m.merge](column));
  return sql`insert into ${sql.identifier(rollup.table)} as t (${columns(rollup)})
      ${rowsOf(rollup, source)}
      on conflict (${sql.raw(rollup.key.join(", "))}) ${
        merges.length === 0 ? sql`do nothing` : sql`do update set ${sql.raw(merges.join(", "))}`
      }`;
}

export async function keepUp(tx: Database, rollup: EventRollup, source: SQL): Promise<void> {
  await tx.execute(keepUpSql(rollup, source));
}

/** The rollup's rows of one account's stored, counted events, as a rebuild inserts them. */
export function rebuildSql(rollup: EventRollup, accountId: SQL): SQL {
  return sql`insert into ${sql.identifier(rollup.table)} (${columns(rollup)})
    ${rowsOf(rollup, sql`(select * from analytics_events e where e.account_id = ${accountId} and ${countedEvent("e")}) e`)}`;
}

/**
 * The rollup made again from every stored, counted event, account by account (each statement
 * names the account whose rows it reads and writes).
 */
export async function rebuild(db: Database, rollup: EventRollup): Promise<void> {
  const owners = await queryRows<{ id: string }>(db, sql`select id from accounts order by id`);
  await db.transaction(async (txDb) => {
    const tx = txDb as unknown as Database;
    for (const { id } of owners) {
      await tx.execute(sql`delete from ${sql.identifier(rollup.table)} where account_id = ${id}::uuid`);
      await tx.execute(rebuildSql(rollup, sql`${id}::uuid`));
    }
  });
}

/**
 * Every rollup made again from the stored events: the registry's first, then the rest by the SQL
 * function funnel_rebuild_rollups() (migrations), some of whose rollups read the registry's daily
 * session and step buckets. Tests compare it with what the deriver kept up batch by batch.
 */
export async function rebuildRollups(db: Database): Promise<void> {
  for (const rollup of EVENT_ROLLUPS) await rebuild(db, rollup);
  await db.execute(sql`select funnel_rebuild_rollups()`);
}
