import { randomUUID } from "node:crypto";
import type { AcceptedEvent } from "@funnel/events";
import { storedEvent } from "@funnel/fixtures";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, type DatabaseHandle, queryRows } from "./client";
import { deriveAll } from "./queries/derive";
import { writeBatch } from "./queries/events";
import { applyRetention, BUCKETED, monthsBefore, type RetentionResult, TIMED } from "./retention";
import { accounts, funnels } from "./schema";
import { createTestDatabase, createTestPglite } from "./testing";

/**
 * Retention on each storage: events go as whole chunks (TimescaleDB, 7-day chunks) or whole monthly
 * partitions, only once wholly older than 13 months; rollups, dedupe ids and refused events follow.
 * Time is moved by passing `now`.
 */

const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
/** Cutoff 2024-06-17T12:00Z: inside the chunk [06-13, 06-20) and the partition of June 2024. */
const NOW = new Date("2025-07-17T12:00:00.000Z");
const CUTOFF = new Date("2024-06-17T12:00:00.000Z");

const account = randomUUID();
const funnel = randomUUID();
const step = randomUUID();
/** Seen only long ago; seen long ago and lately; seen lately. */
const [gone, returning, recent] = [randomUUID(), randomUUID(), randomUUID()];

function event(visitorId: string, type: AcceptedEvent["event_type"], at: string): AcceptedEvent {
  return storedEvent({
    event_type: type,
    funnel_id: funnel,
    session_id: `${visitorId.slice(0, 8)}-${at.slice(0, 10)}`,
    visitor_id: visitorId,
    occurred_at: at,
    received_at: at,
    page_id: type === "page_view" ? randomUUID() : null,
    funnel_step_id: type === "step_entry" || type === "step_exit" ? step : null,
    exit_outcome: type === "step_exit" ? "forward" : null,
    conversion_type: type === "conversion" ? "purchase" : null,
    value_cents: type === "conversion" ? 1_000 : null,
    url: "https://shop.example.com/",
    user_agent: CHROME,
  });
}

const session = (visitorId: string, at: string) =>
  (["page_view", "step_entry", "step_exit", "conversion"] as const).map((type, i) =>
    event(visitorId, type, new Date(Date.parse(at) + i * 60_000).toISOString()),
  );

const old = [...session(gone, "2024-01-10T10:00:00Z"), ...session(returning, "2024-02-03T10:00:00Z")];
/** Older than the cutoff, but in a chunk and a partition that also hold younger time. */
const straddling = session(gone, "2024-06-15T10:00:00Z");
const kept = [...session(returning, "2025-03-20T10:00:00Z"), ...session(recent, "2025-07-01T10:00:00Z")];

async function seed(db: Database): Promise<void> {
  await db.insert(accounts).values({ id: account, name: "retention" });
  await db.insert(funnels).values({ id: funnel, accountId: account, name: "retention" });
  await writeBatch(
    db,
    {
      source: "import",
      accountId: account,
      accepted: [...old, ...straddling, ...kept],
      rejected: [{ index: 0, errors: [], raw: { funnel_id: funnel } }],
    },
    { batchId: randomUUID(), receivedAt: new Date("2024-01-10T10:00:00Z") },
  );
  await writeBatch(
    db,
    { source: "import", accountId: account, accepted: [], rejected: [{ index: 0, errors: [], raw: {} }] },
    { batchId: randomUUID(), receivedAt: new Date("2025-07-01T10:00:00Z") },
  );
  await deriveAll(db);
}

async function count(db: Database, query: ReturnType<typeof sql>): Promise<number> {
  const [row] = await queryRows<{ n: number | string }>(db, sql`select count(*) as n from (${query}) q`);
  return Number(row?.n ?? 0);
}

const ids = (events: AcceptedEvent[]) => sql`${sql.param(events.map((e) => e.event_id))}::text[]::uuid[]`;

async function expectRetained(db: Database, result: RetentionResult): Promise<void> {
  expect(result.cutoff).toEqual(CUTOFF);
  // Whole chunks or partitions only: the straddling one keeps its events older than the cutoff.
  expect(await count(db, sql`select 1 from analytics_events where event_id = any(${ids(old)})`)).toBe(0);
  expect(await count(db, sql`select 1 from analytics_events where event_id = any(${ids(straddling)})`)).toBe(
    straddling.length,
  );
  expect(await count(db, sql`select 1 from analytics_events where event_id = any(${ids(kept)})`)).toBe(
    kept.length,
  );
  // Dedupe ids go with their events, and only with them.
  expect(await count(db, sql`select 1 from event_ids where event_id = any(${ids(old)})`)).toBe(0);
  expect(await count(db, sql`select 1 from event_ids where event_id = any(${ids(straddling)})`)).toBe(
    straddling.length,
  );
  expect(result.deleted.event_ids).toBe(old.length);
  // Rollups follow the cutoff itself, by their own time column.
  for (const [table, width] of BUCKETED) {
    const rows = await count(
      db,
      sql`select 1 from ${sql.identifier(table)} where bucket <= ${CUTOFF.toISOString()}::timestamptz - ${width}::interval`,
    );
    expect(rows, table).toBe(0);
  }
  for (const [table, column] of TIMED) {
    const rows = await count(
      db,
      sql`select 1 from ${sql.identifier(table)} where ${sql.identifier(column)} < ${CUTOFF.toISOString()}::timestamptz`,
    );
    expect(rows, table).toBe(0);
  }
  const visitors = await queryRows<{ visitor_id: string }>(
    db,
    sql`select visitor_id from agg_funnel_visitors order by 1`,
  );
  expect(visitors.map((v) => v.visitor_id)).toEqual([returning, recent].sort());
  expect(await count(db, sql`select 1 from agg_session_buckets`)).toBeGreaterThan(0);
  expect(await count(db, sql`select 1 from agg_conversions`)).toBe(2);
  // Days seen link to the days kept: the returning visitor's first day kept is its first now.
  const links = () =>
    queryRows<{ kind: number; bucket: string; prev: string; units: number }>(
      db,
      sql`select kind, bucket::text as bucket, prev_bucket::text as prev, units::int as units
        from agg_day_links order by 1, 2, 3`,
    );
  const retained = await links();
  expect(retained.some((l) => l.prev !== "-infinity")).toBe(false);
  await db.execute(sql`select funnel_rebuild_day_links()`);
  await db.execute(sql`select funnel_rebuild_converter_links()`);
  await db.execute(sql`select funnel_rebuild_segment_links()`);
  expect(await links()).toEqual(retained);
  expect(await count(db, sql`select 1 from rejected_events`)).toBe(1);
  expect(result.deleted.rejected_events).toBe(1);

  // A retry of an event still stored is still recognised; running again drops nothing more.
  const retry = await writeBatch(
    db,
    { source: "import", accountId: account, accepted: straddling.slice(0, 1), rejected: [] },
    { batchId: randomUUID() },
  );
  expect(retry.inserted).toBe(0);
  const again = await applyRetention(db, { now: NOW });
  expect(again.dropped).toEqual([]);
  expect(Object.values(again.deleted).every((n) => n === 0)).toBe(true);
}

/** Every rollup table of the database is one retention deletes from. */
async function expectEveryRollupCovered(db: Database): Promise<void> {
  const rows = await queryRows<{ table_name: string }>(
    db,
    sql`select table_name from information_schema.tables
      where table_schema = current_schema() and table_name like 'agg\\_%' order by 1`,
  );
  const covered = new Set([...BUCKETED, ...TIMED].map(([table]) => table));
  for (const { table_name } of rows) expect(covered.has(table_name), table_name).toBe(true);
}

describe("applyRetention on TimescaleDB", () => {
  let handle: DatabaseHandle;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const test = await createTestDatabase();
    handle = test.handle;
    drop = test.drop;
  });
  afterAll(() => drop?.());

  it("drops whole chunks wholly older than 13 months, and the rollups older than the cutoff", async () => {
    await seed(handle.db);
    const result = await applyRetention(handle.db, { now: NOW });
    expect(result.dropped.length).toBeGreaterThanOrEqual(2);
    for (const chunk of result.dropped) expect(chunk).toMatch(/_timescaledb_internal\._hyper_\d+_\d+_chunk/);
    await expectRetained(handle.db, result);
    await expectEveryRollupCovered(handle.db);
  });
});

describe("applyRetention on plain PostgreSQL (monthly partitions)", () => {
  let handle: DatabaseHandle;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const test = await createTestDatabase({ timescale: false });
    handle = test.handle;
    drop = test.drop;
  });
  afterAll(() => drop?.());

  it("drops nothing of what the migration prepared, today", async () => {
    const result = await applyRetention(handle.db);
    expect(result.dropped).toEqual([]);
  });

  it("drops whole monthly partitions wholly older than 13 months", async () => {
    await seed(handle.db);
    const result = await applyRetention(handle.db, { now: NOW });
    // The batch created its months, 2024-01 to 2025-07; June 2024 ends after the cutoff.
    expect(result.dropped).toEqual(["01", "02", "03", "04", "05"].map((m) => `analytics_events_2024_${m}`));
    await expectRetained(handle.db, result);
  });
});

describe("applyRetention on PGlite", () => {
  let handle: DatabaseHandle;
  beforeAll(async () => {
    handle = await createTestPglite();
  });
  afterAll(() => handle?.close());

  it("drops whole monthly partitions wholly older than 13 months", async () => {
    expect((await applyRetention(handle.db)).dropped).toEqual([]);
    await seed(handle.db);
    const result = await applyRetention(handle.db, { now: NOW });
    expect(result.dropped).toEqual(["01", "02", "03", "04", "05"].map((m) => `analytics_events_2024_${m}`));
    await expectRetained(handle.db, result);
    await expectEveryRollupCovered(handle.db);
  });
});

describe("monthsBefore", () => {
  it("counts calendar months back in UTC, clamping the day to the month's last", () => {
    expect(monthsBefore(new Date("2025-07-17T12:00:00Z"), 13)).toEqual(new Date("2024-06-17T12:00:00Z"));
    expect(monthsBefore(new Date("2025-03-31T23:59:59.999Z"), 13)).toEqual(
      new Date("2024-02-29T23:59:59.999Z"),
    );
    expect(monthsBefore(new Date("2026-01-15T00:00:00Z"), 13)).toEqual(new Date("2024-12-15T00:00:00Z"));
  });
});
