import { type SQL, sql } from "drizzle-orm";
import { type Database, queryRows } from "../client";
import { countedEvent } from "../queries/bot-sessions";
import {
  EVENT_ROLLUPS,
  type EventRollup,
  FACT_ROLLUPS,
  FACTS,
  type Fact,
  type FactRollup,
  type Merge,
} from "./registry";

/**
 * The SQL of a registered rollup (registry.ts): one select computes its rows from a set of counted
 * events, and serves both the deriver's batch (added to the stored rows by each measure's merge)
 * and a rebuild (the rows of all of an account's stored events).
 */

/** What a rollup's rows are made of, whichever kind: the key columns' values and the aggregates. */
interface Grouping {
  key: readonly string[];
  keyOf: Readonly<Record<string, string>>;
  measures: readonly string[];
  where?: string | undefined;
  each?: string | undefined;
}

/**
 * The rows of a grouping from `source` (a relation aliased `alias`): its account, the key columns
 * and the aggregates, grouped by them and in key order (the order rows are written and locked in).
 */
function grouped(g: Grouping, alias: "e" | "f", source: SQL): SQL {
  const keys = g.key.map((k) => (k === "funnel_id" ? `${alias}.funnel_id` : g.keyOf[k]));
  const groups = keys.map((_, i) => i + 2).join(", ");
  return sql`select ${sql.raw(alias)}.account_id, ${sql.raw([...keys, ...g.measures].join(", "))}
    from ${source} ${sql.raw(g.each ?? "")}
    ${g.where === undefined ? sql`` : sql`where ${sql.raw(g.where)}`}
    group by 1, ${sql.raw(groups)}
    order by ${sql.raw(groups)}`;
}

/** The columns a rollup's rows are written to: its account, key and measures. */
function columnsOf(rollup: { key: readonly string[]; measures: object }): string[] {
  return ["account_id", ...rollup.key, ...Object.keys(rollup.measures)];
}

/** The rollup's rows from the events of `source` (a relation aliased `e`). */
function rowsOf(rollup: EventRollup, source: SQL): SQL {
  return grouped({ ...rollup, measures: Object.values(rollup.measures).map((m) => m.of) }, "e", source);
}

function columns(rollup: EventRollup | FactRollup): SQL {
  return sql.raw(columnsOf(rollup).join(", "));
}

/**
 * Makes a rollup's table again account by account, in one transaction (each statement names the
 * account whose rows it reads and writes): `insert` gives the statement for one account's rows.
 */
async function rebuildTable(db: Database, table: string, insert: (accountId: SQL) => SQL): Promise<void> {
  const owners = await queryRows<{ id: string }>(db, sql`select id from accounts order by id`);
  await db.transaction(async (txDb) => {
    const tx = txDb as unknown as Database;
    for (const { id } of owners) {
      await tx.execute(sql`delete from ${sql.identifier(table)} where account_id = ${id}::uuid`);
      await tx.execute(insert(sql`${id}::uuid`));
    }
  });
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

/** The rollup made again from every stored, counted event. */
export async function rebuild(db: Database, rollup: EventRollup): Promise<void> {
  await rebuildTable(db, rollup.table, (accountId) => rebuildSql(rollup, accountId));
}

// ---------------------------------------------------------------------------------------------
// Rollups summed from facts

/**
 * Creates the facts' changes tables on this connection when they are not there yet (temporary,
 * emptied at every commit or rollback): the statements that rewrite fact rows log into them.
 */
export async function stageFactChanges(tx: Database): Promise<void> {
  for (const fact of Object.values(FACTS)) {
    const columns = Object.entries(fact.columns).map(([name, type]) => `${name} ${type}`);
    await tx.execute(
      sql.raw(
        `create temporary table if not exists ${fact.changes} (sign int2 not null, ${columns.join(", ")}) on commit delete rows`,
      ),
    );
  }
}

/**
 * Logs fact rows into the fact's changes table: `rows` is a query (or CTE name) with the fact's
 * columns, each row counted with `sign` (-1: an old version, +1: a new one).
 */
export function logFactRows(fact: Fact, sign: 1 | -1, rows: SQL): SQL {
  const names = Object.keys(FACTS[fact].columns).join(", ");
  return sql`insert into ${sql.raw(FACTS[fact].changes)} (sign, ${sql.raw(names)})
    select ${sign}, ${sql.raw(names)} from ${rows}`;
}

/** The fact rollup's rows from `source` (fact rows with their `sign`, aliased `f`). */
function factRowsOf(rollup: FactRollup, source: SQL): SQL {
  return grouped({ ...rollup, measures: Object.values(rollup.measures) }, "f", source);
}

/** The upsert that adds the batch's logged changes to the stored rows. */
export function keepUpFactsSql(rollup: FactRollup): SQL {
  const sums = Object.keys(rollup.measures).map((c) => `${c} = t.${c} + excluded.${c}`);
  return sql`insert into ${sql.identifier(rollup.table)} as t (${columns(rollup)})
    ${factRowsOf(rollup, sql`${sql.raw(FACTS[rollup.fact].changes)} f`)}
    on conflict (${sql.raw(rollup.key.join(", "))}) do update set ${sql.raw(sums.join(", "))}`;
}

/** Adds the logged changes to the stored rows, and deletes the rows they left at 0. */
export async function keepUpFacts(tx: Database, rollup: FactRollup): Promise<void> {
  await tx.execute(keepUpFactsSql(rollup));
  const matches = ["account_id", ...rollup.key].map((k) => `t.${k} = d.${k}`).join(" and ");
  const aliased = columnsOf(rollup);
  await tx.execute(
    sql`delete from ${sql.identifier(rollup.table)} t
      using (${factRowsOf(rollup, sql`${sql.raw(FACTS[rollup.fact].changes)} f`)}) as d(${sql.raw(aliased.join(", "))})
      where ${sql.raw(matches)} and t.${sql.raw(rollup.goneAtZero)} = 0`,
  );
}

/** The fact rollups kept up from the batch's logged changes, and the changes then emptied. */
export async function keepUpAllFacts(tx: Database): Promise<void> {
  for (const rollup of FACT_ROLLUPS) await keepUpFacts(tx, rollup);
  for (const fact of Object.values(FACTS)) await tx.execute(sql.raw(`delete from ${fact.changes}`));
}

/** The fact rollup's rows of one account's facts, as a rebuild inserts them. */
export function rebuildFactsSql(rollup: FactRollup, accountId: SQL): SQL {
  return sql`insert into ${sql.identifier(rollup.table)} (${columns(rollup)})
    ${factRowsOf(rollup, sql`(select 1 as sign, * from ${sql.identifier(rollup.fact)} where account_id = ${accountId}) f`)}`;
}

/** The fact rollup made again from the facts. */
export async function rebuildFacts(db: Database, rollup: FactRollup): Promise<void> {
  await rebuildTable(db, rollup.table, (accountId) => rebuildFactsSql(rollup, accountId));
}

/**
 * Every rollup made again from the stored events: the registry's event rollups first, then the
 * rest by the SQL function funnel_rebuild_rollups() (migrations: the facts, day links and the like;
 * some read the registry's daily session and step buckets), then the registry's fact rollups from
 * the facts it made. Tests compare it with what the deriver kept up batch by batch.
 */
export async function rebuildRollups(db: Database): Promise<void> {
  for (const rollup of EVENT_ROLLUPS) await rebuild(db, rollup);
  await db.execute(sql`select funnel_rebuild_rollups()`);
  for (const rollup of FACT_ROLLUPS) await rebuildFacts(db, rollup);
}
