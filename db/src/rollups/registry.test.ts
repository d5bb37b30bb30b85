import { randomUUID } from "node:crypto";
import { validateEvents } from "@funnel/events/validate";
import { generateTraffic, springSale } from "@funnel/fixtures";
import { type SQL, sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { beforeAll, describe, expect, it } from "vitest";
import { type Database, queryRows } from "../client";
import { deriveAll } from "../queries/derive";
import { writeBatch } from "../queries/events";
import { accounts, funnelSteps, funnels } from "../schema";
import { bothEngines } from "../testing";
import { EVENT_ROLLUPS, FACT_ROLLUPS } from "./registry";
import { keepUpFactsSql, keepUpSql, rebuild, rebuildFacts, rebuildFactsSql, rebuildSql } from "./run";

/**
 * Every registered rollup, kept up batch by batch by the deriver from generated traffic written in
 * shuffled batches, equals the same definition rebuilt from the stored events; and every definition
 * matches its table (key = primary key, every column it writes exists), so the registry cannot
 * drift from the schema.
 *
 * Both sides here use the definition's own select, so this proves the batch-by-batch upkeep (the
 * merges, the signed changes, the rows left at 0), not the definition. The figures themselves are
 * checked against computations of their own from the raw events: the counts, buckets and spans in
 * db/src/queries/events.test.ts, and every report built on them by the reference suite
 * (api/src/routes/reports.reference.test.ts, test/reference/).
 */

const both = bothEngines();
const { engines } = both;

beforeAll(async () => {
  for (const [, db] of engines) await fill(db());
}, 300_000);

/** Two weeks of a funnel's traffic (bots, retries, server-side events), written in shuffled batches and derived. */
async function fill(db: Database): Promise<void> {
  const accountId = randomUUID();
  await db.insert(accounts).values({ id: accountId, name: "Shop" });
  await db.insert(funnels).values({ id: springSale.id, accountId, name: springSale.name });
  await db.insert(funnelSteps).values(
    springSale.steps.map((s) => ({
      id: s.id,
      funnelId: springSale.id,
      name: s.name,
      stepType: s.step_type,
      position: s.position,
    })),
  );
  const traffic = generateTraffic({
    funnel: springSale,
    from: new Date("2026-03-01T00:00:00Z"),
    to: new Date("2026-03-15T00:00:00Z"),
    visitors: 300,
    seed: 9,
    serverSent: true,
  });
  const { accepted } = validateEvents(traffic, {
    context: { receivedAt: new Date("2026-03-16T00:00:00Z") },
    fromBrowser: false,
    newId: randomUUID,
  });
  // A fixed shuffle: later events often derived before earlier ones.
  const shuffled = accepted
    .map((e, i) => ({ e, k: (i * 7919) % accepted.length }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.e);
  for (let i = 0; i < shuffled.length; i += 250) {
    await writeBatch(
      db,
      { source: "import", accountId, accepted: shuffled.slice(i, i + 250), rejected: [] },
      { batchId: randomUUID(), receivedAt: new Date("2026-03-16T00:00:00Z") },
    );
    if ((i / 250) % 3 === 2) await deriveAll(db);
  }
  await deriveAll(db);
}

async function rowsOf(db: Database, table: string): Promise<string[]> {
  const rows = await queryRows<{ j: string }>(
    db,
    sql`select row_to_json(t)::text as j from ${sql.identifier(table)} t`,
  );
  return rows.map((r) => r.j).sort();
}

/** Every registered rollup: its table, key, columns and the SQL it runs, with how to rebuild it. */
const REGISTERED = [
  ...EVENT_ROLLUPS.map((r) => ({
    table: r.table,
    key: r.key,
    keyOf: r.keyOf,
    written: ["account_id", ...r.key, ...Object.keys(r.measures)],
    dated: "column" in r.retention ? r.retention.column : "bucket",
    rebuild: (db: Database) => rebuild(db, r),
    sql: {
      keepUp: keepUpSql(r, sql.raw("(select * from staged_events where not is_bot) as e")),
      rebuild: rebuildSql(r, sql.raw("$account")),
    },
  })),
  ...FACT_ROLLUPS.map((r) => ({
    table: r.table,
    key: r.key,
    keyOf: r.keyOf,
    written: ["account_id", ...r.key, ...Object.keys(r.measures)],
    dated: "bucket",
    rebuild: (db: Database) => rebuildFacts(db, r),
    sql: { keepUp: keepUpFactsSql(r), rebuild: rebuildFactsSql(r, sql.raw("$account")) },
  })),
];

describe.each(engines)("the registered rollups on %s", (_, database) => {
  it.each(REGISTERED.map((r) => [r.table, r] as const))(
    "%s: kept up batch by batch as rebuilt",
    async (_, rollup) => {
      const db = database();
      const kept = await rowsOf(db, rollup.table);
      expect(kept.length).toBeGreaterThan(0);
      await rollup.rebuild(db);
      expect(await rowsOf(db, rollup.table)).toEqual(kept);
    },
  );
});

describe("the registry", () => {
  // The SQL each definition makes, in review as a diff whenever a definition or run.ts changes.
  it.each(REGISTERED.map((r) => [r.table, r] as const))("%s: the SQL it runs", (_, rollup) => {
    const dialect = new PgDialect();
    const text = (q: SQL) => dialect.sqlToQuery(q).sql.replace(/\s+/g, " ").trim();
    expect({ keepUp: text(rollup.sql.keepUp), rebuild: text(rollup.sql.rebuild) }).toMatchSnapshot();
  });

  it.each(REGISTERED.map((r) => [r.table, r] as const))("%s matches its table", async (_, rollup) => {
    const db = both.timescale().handle.db;
    const key = await queryRows<{ column: string }>(
      db,
      sql`select a.attname as column
        from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
        where i.indrelid = to_regclass(${rollup.table}) and i.indisprimary
        order by array_position(i.indkey::int2[], a.attnum)`,
    );
    expect(key.map((k) => k.column)).toEqual([...rollup.key]);
    const columns = await queryRows<{ column: string }>(
      db,
      sql`select column_name as column from information_schema.columns where table_name = ${rollup.table}`,
    );
    const names = new Set(columns.map((c) => c.column));
    for (const column of [...rollup.written, rollup.dated]) expect(names, column).toContain(column);
    expect(Object.keys(rollup.keyOf).sort()).toEqual(rollup.key.filter((k) => k !== "funnel_id").sort());
  });
});
