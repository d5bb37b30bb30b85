import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, type DatabaseHandle, queryRows } from "./client";
import { ensurePartitions, storageKind } from "./partitions";
import { createTestDatabase, createTestPglite, type TestDatabase } from "./testing";

/** Monthly partitions of analytics_events with their lower bound, oldest first. */
async function partitions(db: Database): Promise<{ name: string; from: string }[]> {
  const rows = await queryRows<{ name: string; bound: string }>(
    db,
    sql`select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
        from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'analytics_events'::regclass
        order by c.relname`,
  );
  return rows.map((r) => ({ name: r.name, from: /FROM \('([^']+)'\)/.exec(r.bound)?.[1] ?? r.bound }));
}

/** Names analytics_events_YYYY_MM from `back` months before `now` to `ahead` after (UTC). */
function expectedNames(now: Date, back: number, ahead: number): string[] {
  const names: string[] = [];
  for (let i = -back; i <= ahead; i++) {
    const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1));
    names.push(
      `analytics_events_${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, "0")}`,
    );
  }
  return names;
}

async function isPartitioned(db: Database): Promise<boolean> {
  const rows = await queryRows<{ partitioned: boolean }>(
    db,
    sql`select exists (
      select 1 from pg_partitioned_table where partrelid = 'analytics_events'::regclass
    ) as partitioned`,
  );
  return rows[0]?.partitioned === true;
}

describe("migrations on TimescaleDB", () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase();
  });
  afterAll(() => test?.drop());

  it("make analytics_events a hypertable with 7-day chunks on created_at", async () => {
    const { db } = test.handle;
    const dimensions = await queryRows<{ column_name: string; time_interval: string }>(
      db,
      sql`select d.column_name, d.time_interval::text as time_interval
          from timescaledb_information.hypertables h
          join timescaledb_information.dimensions d using (hypertable_schema, hypertable_name)
          where h.hypertable_name = 'analytics_events'`,
    );
    expect(dimensions).toEqual([{ column_name: "created_at", time_interval: "7 days" }]);
    expect(await isPartitioned(db)).toBe(false);
    expect(await storageKind(db)).toBe("timescaledb");
    expect(test.handle.kind).toBe("timescaledb");
  });

  it("keep the schema's index names and add no TimescaleDB default index", async () => {
    const rows = await queryRows<{ indexname: string }>(
      test.handle.db,
      sql`select indexname from pg_indexes where tablename = 'analytics_events' order by indexname`,
    );
    expect(rows.map((r) => r.indexname)).toEqual([
      "idx_analytics_events_account_funnel",
      "idx_analytics_events_created_at",
      "idx_analytics_events_session_id",
      "idx_analytics_events_type",
      "idx_analytics_events_visitor_id",
    ]);
  });

  it("make ensurePartitions a no-op", async () => {
    expect(await ensurePartitions(test.handle.db)).toBe(0);
    expect(await ensurePartitions(test.handle.db, { now: new Date("2030-01-15T00:00:00Z") })).toBe(0);
  });
});

describe("migrations on plain PostgreSQL (funnel.timescaledb = 'off')", () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase({ timescale: false });
  });
  afterAll(() => test?.drop());

  it("partition analytics_events by month, 13 months back to 3 ahead", async () => {
    const { db } = test.handle;
    expect(await isPartitioned(db)).toBe(true);
    expect(await storageKind(db)).toBe("postgres");
    expect(test.handle.kind).toBe("postgres");
    const [{ now } = { now: new Date() }] = await queryRows<{ now: Date }>(db, sql`select now() as now`);
    const found = await partitions(db);
    expect(found.map((p) => p.name)).toEqual(expectedNames(new Date(now), 13, 3));
    expect(found[0]?.from).toMatch(/^\d{4}-\d{2}-01 00:00:00\+00$/);
  });

  it("keep the schema's columns, defaults and index names on the partitioned table", async () => {
    const { db } = test.handle;
    const indexes = await queryRows<{ indexname: string }>(
      db,
      sql`select indexname from pg_indexes where tablename = 'analytics_events' order by indexname`,
    );
    expect(indexes.map((r) => r.indexname)).toEqual([
      "idx_analytics_events_account_funnel",
      "idx_analytics_events_created_at",
      "idx_analytics_events_session_id",
      "idx_analytics_events_type",
      "idx_analytics_events_visitor_id",
    ]);
    const columns = await queryRows<{ column_name: string; column_default: string | null }>(
      db,
      sql`select column_name, column_default from information_schema.columns
          where table_name = 'analytics_events' and column_default is not null order by column_name`,
    );
    expect(columns).toEqual([
      { column_name: "created_at", column_default: "now()" },
      { column_name: "is_bot", column_default: "false" },
      { column_name: "metadata", column_default: "'{}'::jsonb" },
      { column_name: "received_at", column_default: "now()" },
    ]);
    const leftovers = await queryRows(
      db,
      sql`select 1 from pg_class where relname = 'analytics_events_unpartitioned'`,
    );
    expect(leftovers).toEqual([]);
  });

  it("ensurePartitions is idempotent and adds partitions as time moves", async () => {
    const { db } = test.handle;
    const now = new Date();
    const before = await partitions(db);
    expect(await ensurePartitions(db, { now })).toBe(0);
    expect(await ensurePartitions(db, { now })).toBe(0);
    expect(await partitions(db)).toEqual(before);

    const later = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 2, 15));
    expect(await ensurePartitions(db, { now: later })).toBe(2);
    expect(await ensurePartitions(db, { now: later })).toBe(0);
    const names = (await partitions(db)).map((p) => p.name);
    // Old partitions stay until retention drops them; the window extends ahead.
    expect(names).toEqual(expectedNames(later, 15, 3));
  });

  it("routes an event to the partition of its month", async () => {
    const { db } = test.handle;
    const rows = await queryRows<{ partition: string }>(
      db,
      sql`insert into analytics_events (event_id, account_id, funnel_id, event_type, visitor_id, session_id, created_at)
          values (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'page_view', gen_random_uuid(), 's1',
                  date_trunc('month', now()) + interval '3 days')
          returning tableoid::regclass::text as partition`,
    );
    expect(rows[0]?.partition).toBe(expectedNames(new Date(), 0, 0)[0]);
  });
});

describe("migrations on PGlite", () => {
  let handle: DatabaseHandle;
  beforeAll(async () => {
    handle = await createTestPglite();
  });
  afterAll(() => handle?.close());

  it("partition analytics_events natively, 13 months back to 3 ahead", async () => {
    expect(handle.kind).toBe("pglite");
    expect(await storageKind(handle.db)).toBe("pglite");
    expect(await isPartitioned(handle.db)).toBe(true);
    expect((await partitions(handle.db)).map((p) => p.name)).toEqual(expectedNames(new Date(), 13, 3));
    expect(await ensurePartitions(handle.db)).toBe(0);
  });
});
