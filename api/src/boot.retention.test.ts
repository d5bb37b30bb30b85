import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDatabase, type Database, type DatabaseHandle, queryRows } from "@funnel/db/client";
import { migrate } from "@funnel/db/migrate";
import { sql } from "@funnel/db/orm";
import { deriveAll } from "@funnel/db/queries/derive";
import { writeBatch } from "@funnel/db/queries/events";
import { monthsBefore } from "@funnel/db/retention";
import { accounts, funnels } from "@funnel/db/schema";
import type { AcceptedEvent } from "@funnel/events";
import { storedEvent, USER_AGENTS } from "@funnel/fixtures";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { boot, type Runtime } from "./boot";
import { loadConfig } from "./config";

/**
 * The retention and partition jobs as a process runs them (db/src/retention.test.ts covers what
 * retention drops on each storage, moving time): a worker process applies retention at start and
 * every hour, and creates monthly partitions ahead every six hours; a process without the worker
 * runs neither. On the embedded default (PGlite in DATA_DIR, native monthly partitions). The hourly
 * and six-hourly runs are triggered by calling the scheduled callbacks: nothing waits for a clock.
 */

const HOUR = 3_600_000;
const account = randomUUID();
const funnel = randomUUID();

function event(at: Date): AcceptedEvent {
  return storedEvent({
    event_type: "page_view",
    funnel_id: funnel,
    session_id: randomUUID(),
    visitor_id: randomUUID(),
    occurred_at: at.toISOString(),
    received_at: at.toISOString(),
    page_id: randomUUID(),
    url: "https://shop.example.com/",
    user_agent: USER_AGENTS.chromeWindows,
  });
}

async function write(db: Database, events: AcceptedEvent[]): Promise<void> {
  await writeBatch(
    db,
    { source: "import", accountId: account, accepted: events, rejected: [] },
    { batchId: randomUUID() },
  );
  await deriveAll(db);
}

async function storedIds(db: Database, events: AcceptedEvent[]): Promise<string[]> {
  const rows = await queryRows<{ event_id: string }>(
    db,
    sql`select event_id from analytics_events where event_id = any(${sql.param(events.map((e) => e.event_id))}::text[]::uuid[])`,
  );
  return rows.map((r) => r.event_id).sort();
}

async function partitions(db: Database): Promise<string[]> {
  const rows = await queryRows<{ name: string }>(
    db,
    sql`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'analytics_events'::regclass order by 1`,
  );
  return rows.map((r) => r.name);
}

const partitionOf = (d: Date) =>
  `analytics_events_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, "0")}`;

/** Waits for a job the process started on its own; fails past the deadline. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("retention and partition jobs of a process", () => {
  let dataDir: string;
  let runtime: Runtime | undefined;
  let scheduled: { callback: () => void; ms: number }[];
  const now = new Date();
  /** Wholly older than 13 months, in a month of its own; and a month old. */
  const old = [event(monthsBefore(now, 16)), event(monthsBefore(now, 16))];
  const recent = [event(monthsBefore(now, 1))];

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "funnel-boot-"));
    // The database as a previous run left it: old and recent events.
    const seed: DatabaseHandle = await createDatabase({ dataDir: join(dataDir, "pglite") });
    await migrate(seed);
    await seed.db.insert(accounts).values({ id: account, name: "retention" });
    await seed.db.insert(funnels).values({ id: funnel, accountId: account, name: "retention" });
    await write(seed.db, [...old, ...recent]);
    expect(await partitions(seed.db)).toContain(partitionOf(monthsBefore(now, 16)));
    await seed.close();

    scheduled = [];
    const real = globalThis.setInterval;
    vi.spyOn(globalThis, "setInterval").mockImplementation(((callback: () => void, ms?: number) => {
      scheduled.push({ callback, ms: ms ?? 0 });
      return real(callback, ms);
    }) as typeof setInterval);
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await runtime?.close();
    runtime = undefined;
    await rm(dataDir, { recursive: true, force: true });
  });

  const start = (worker: boolean) =>
    boot(
      loadConfig({
        NODE_ENV: "test",
        LOG_LEVEL: "silent",
        DATA_DIR: dataDir,
        RUN_WORKER: worker ? "true" : "false",
        SEED_DEMO: "false",
      }),
    );

  it("a worker drops what is older than 13 months at start, then every hour", async () => {
    runtime = await start(true);
    const { db } = runtime.deps.database;
    await until(async () => (await storedIds(db, old)).length === 0, "retention at start");
    expect(await storedIds(db, recent)).toEqual(recent.map((e) => e.event_id));
    expect(await partitions(db)).not.toContain(partitionOf(monthsBefore(now, 16)));

    const hourly = scheduled.filter((s) => s.ms === HOUR);
    expect(hourly).toHaveLength(1);
    // Old events written since (a back-fill): the next hourly run drops them.
    const backfill = [event(monthsBefore(now, 18))];
    await write(db, backfill);
    expect(await storedIds(db, backfill)).toHaveLength(1);
    // A tick while a run is still going is skipped (one run at a time): tick until one starts.
    await until(async () => {
      hourly[0]?.callback();
      return (await storedIds(db, backfill)).length === 0;
    }, "the hourly run");
    expect(await storedIds(db, recent)).toEqual(recent.map((e) => e.event_id));
  });

  it("a worker creates the monthly partitions ahead every six hours", async () => {
    runtime = await start(true);
    const { db } = runtime.deps.database;
    const ahead = partitionOf(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 3, 1)));
    expect(await partitions(db)).toContain(ahead);
    await db.execute(sql.raw(`drop table ${ahead}`));
    const job = scheduled.filter((s) => s.ms === 6 * HOUR);
    expect(job).toHaveLength(1);
    job[0]?.callback();
    await until(async () => (await partitions(db)).includes(ahead), "the partition job");
  });

  it("a process without the worker schedules neither and drops nothing", async () => {
    runtime = await start(false);
    expect(scheduled.filter((s) => s.ms === HOUR || s.ms === 6 * HOUR)).toEqual([]);
    await runtime.close();
    runtime = undefined;
    const handle = await createDatabase({ dataDir: join(dataDir, "pglite") });
    try {
      expect(await storedIds(handle.db, old)).toEqual(old.map((e) => e.event_id).sort());
    } finally {
      await handle.close();
    }
  });
});
