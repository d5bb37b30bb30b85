import { randomUUID } from "node:crypto";
import type { AcceptedEvent } from "@funnel/events";
import { storedEvent } from "@funnel/fixtures";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { type Database, queryRows } from "../client";
import { rebuildRollups } from "../rollups/run";
import { bothEngines, createShop } from "../testing";
import { BACKLOG_LANES, deriveAll, derivedThrough, deriveLane, LANE_LOCK_NAMESPACE } from "./derive";
import { writeBatch } from "./events";
import { withdrawConsent } from "./privacy";

/**
 * Events first: the ingest writer stores events and adds them to the rollup backlog, and does no
 * rollup work; the deriver derives the backlog's rollups in its own transactions, each event once.
 */

const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const day = Date.UTC(2026, 4, 10, 12, 0, 0);
const step = randomUUID();

const both = bothEngines();

/** A visit: a page view, an entry to the step, a purchase, in one session. */
function visit(funnelId: string, visitorId = randomUUID(), minute = 0): AcceptedEvent[] {
  const session = `s-${randomUUID()}`;
  const at = (m: number) => new Date(day + (minute + m) * 60_000).toISOString();
  const base = { funnel_id: funnelId, visitor_id: visitorId, session_id: session, user_agent: CHROME };
  return [
    storedEvent({ ...base, event_type: "page_view", occurred_at: at(0), received_at: at(0) }),
    storedEvent({
      ...base,
      event_type: "step_entry",
      funnel_step_id: step,
      occurred_at: at(1),
      received_at: at(1),
    }),
    storedEvent({
      ...base,
      event_type: "conversion",
      conversion_type: "purchase",
      value_cents: 1_250,
      occurred_at: at(2),
      received_at: at(2),
    }),
  ];
}

async function write(db: Database, accountId: string, events: AcceptedEvent[]): Promise<void> {
  await writeBatch(
    db,
    { source: "import", accountId, accepted: events, rejected: [] },
    { batchId: randomUUID(), receivedAt: new Date(day) },
  );
}

/** The account's rows waiting in the backlog. */
async function waiting(db: Database, accountId: string): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    db,
    sql`select count(*)::int as n from rollup_backlog where account_id = ${accountId}::uuid`,
  );
  return row?.n ?? -1;
}

/** Rows of every rollup table (agg_*), per table. */
async function rollupRows(db: Database): Promise<Record<string, number>> {
  const tables = await queryRows<{ name: string }>(
    db,
    sql`select table_name as name from information_schema.tables
      where table_schema = 'public' and table_name like 'agg\\_%' order by 1`,
  );
  const counts: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await queryRows<{ n: number }>(
      db,
      sql`select count(*)::int as n from ${sql.identifier(name)}`,
    );
    counts[name] = row?.n ?? 0;
  }
  return counts;
}

/** Every rollup row as JSON, per table, in a stable order. */
async function rollupSnapshot(db: Database): Promise<Record<string, string[]>> {
  const snapshot: Record<string, string[]> = {};
  for (const name of Object.keys(await rollupRows(db))) {
    const rows = await queryRows<{ j: string }>(
      db,
      sql`select row_to_json(t)::text as j from ${sql.identifier(name)} t`,
    );
    snapshot[name] = rows.map((r) => r.j).sort();
  }
  return snapshot;
}

describe.each(both.engines)("the deriver on %s", (_, database) => {
  it("stores events without rollup work; the deriver derives them once, as a rebuild does", async () => {
    const db = database();
    const { accountId, funnelId } = await createShop(db);
    const events = Array.from({ length: 12 }, (_, i) => visit(funnelId, randomUUID(), i * 7)).flat();
    const before = await rollupRows(db);
    expect(await derivedThrough(db, accountId)).toBeNull();
    await write(db, accountId, events);

    // Stored, waiting in the backlog, and not one rollup row added.
    const [stored] = await queryRows<{ n: number }>(
      db,
      sql`select count(*)::int as n from analytics_events where account_id = ${accountId}::uuid`,
    );
    expect(stored?.n).toBe(events.length);
    expect(await waiting(db, accountId)).toBe(events.length);
    expect(await rollupRows(db)).toEqual(before);
    // The reports' freshness stops before the write's events.
    const [oldest] = await queryRows<{ at: Date | string }>(
      db,
      sql`select min(stored_at) as at from rollup_backlog where account_id = ${accountId}::uuid`,
    );
    expect((await derivedThrough(db, accountId))?.getTime()).toBe(new Date(oldest?.at ?? 0).getTime());

    expect(await deriveAll(db)).toBe(events.length);
    expect(await waiting(db, accountId)).toBe(0);
    // Nothing waiting: the newest derived row's store time, the same until new events come.
    expect((await derivedThrough(db, accountId))?.getTime()).toBe(new Date(oldest?.at ?? 0).getTime());
    const derived = await rollupSnapshot(db);
    expect(derived.agg_step_visitors?.length).toBeGreaterThan(0);
    // Deriving again finds nothing; a rebuild from the raw events gives the same rows.
    expect(await deriveAll(db)).toBe(0);
    await rebuildRollups(db);
    expect(await rollupSnapshot(db)).toEqual(derived);
  });

  it("derives the events a consent withdrawal anonymised while they waited, under the new ids", async () => {
    const db = database();
    const { accountId, funnelId } = await createShop(db);
    const visitor = randomUUID();
    await write(db, accountId, visit(funnelId, visitor));
    await withdrawConsent(db, accountId, visitor);
    await deriveAll(db);
    const traces = await queryRows<{ j: string }>(
      db,
      sql`select row_to_json(t)::text as j from agg_sessions t where account_id = ${accountId}::uuid`,
    );
    expect(traces.length).toBe(1);
    expect(JSON.stringify(await rollupSnapshot(db))).not.toContain(visitor);
  });
});

describe("lanes", () => {
  it("lets one transaction derive a lane at a time; another is told at once", async () => {
    const db = both.timescale().handle.db;
    const { accountId, funnelId } = await createShop(db);
    await write(db, accountId, visit(funnelId));
    const [lane] = await queryRows<{ lane: number }>(
      db,
      sql`select lane from rollup_backlog where account_id = ${accountId}::uuid limit 1`,
    );
    expect(lane?.lane).toBeGreaterThanOrEqual(0);
    expect(lane?.lane).toBeLessThan(BACKLOG_LANES);
    const n = lane?.lane ?? 0;
    // A transaction holding the lane's lock (as a running derivation does).
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked: () => void = () => {};
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${LANE_LOCK_NAMESPACE}::int4, ${n}::int4)`);
      locked();
      await held;
    });
    await isLocked;
    expect(await deriveLane(db, n)).toEqual({ derived: 0, ran: false });
    release();
    await holder;
    expect(await deriveLane(db, n)).toEqual({ derived: 3, ran: true });
  });
});
