import { randomUUID } from "node:crypto";
import { validateEvents } from "@funnel/events/validate";
import { generateTraffic, springSale } from "@funnel/fixtures";
import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, type DatabaseHandle, queryRows } from "../client";
import { deriveAll } from "../queries/derive";
import { writeBatch } from "../queries/events";
import { accounts, funnelSteps, funnels } from "../schema";
import { createTestDatabase, createTestPglite, type TestDatabase } from "../testing";
import { EVENT_ROLLUPS } from "./registry";
import { keepUpSql, rebuild, rebuildSql } from "./run";

/**
 * Every registered rollup, kept up batch by batch by the deriver from generated traffic written in
 * shuffled batches, equals the same definition rebuilt from the stored events; and every definition
 * matches its table (key = primary key, every column it writes exists), so the registry cannot
 * drift from the schema.
 */

let timescale: TestDatabase;
let pglite: DatabaseHandle;

beforeAll(async () => {
  [timescale, pglite] = await Promise.all([createTestDatabase(), createTestPglite()]);
  for (const db of [timescale.handle.db, pglite.db]) await fill(db);
}, 300_000);

afterAll(async () => {
  await Promise.all([timescale?.drop(), pglite?.close()]);
});

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

describe.each([
  ["TimescaleDB", () => timescale.handle.db],
  ["PGlite", () => pglite.db],
])("the registered rollups on %s", (_, database) => {
  it.each(EVENT_ROLLUPS.map((r) => [r.table, r] as const))(
    "%s: kept up batch by batch as rebuilt",
    async (_, rollup) => {
      const db = database();
      const kept = await rowsOf(db, rollup.table);
      expect(kept.length).toBeGreaterThan(0);
      await rebuild(db, rollup);
      expect(await rowsOf(db, rollup.table)).toEqual(kept);
    },
  );
});

describe("the registry", () => {
  // The SQL each definition makes, in review as a diff whenever a definition or run.ts changes.
  it.each(EVENT_ROLLUPS.map((r) => [r.table, r] as const))("%s: the SQL it runs", (_, rollup) => {
    const dialect = new PgDialect();
    const text = (q: ReturnType<typeof keepUpSql>) => dialect.sqlToQuery(q).sql.replace(/\s+/g, " ").trim();
    expect({
      keepUp: text(keepUpSql(rollup, sql.raw("(select * from staged_events where not is_bot) as e"))),
      rebuild: text(rebuildSql(rollup, sql.raw("$account"))),
    }).toMatchSnapshot();
  });

  it.each(EVENT_ROLLUPS.map((r) => [r.table, r] as const))("%s matches its table", async (_, rollup) => {
    const db = timescale.handle.db;
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
    const written = ["account_id", ...rollup.key, ...Object.keys(rollup.measures)];
    const dated = "column" in rollup.retention ? [rollup.retention.column] : ["bucket"];
    for (const column of [...written, ...dated]) expect(names, column).toContain(column);
    expect(Object.keys(rollup.keyOf).sort()).toEqual(rollup.key.filter((k) => k !== "funnel_id").sort());
  });
});
