import { randomUUID } from "node:crypto";
import { queryRows } from "@funnel/db/client";
import { sql } from "@funnel/db/orm";
import { writeBatch } from "@funnel/db/queries/events";
import { accounts, funnels } from "@funnel/db/schema";
import { createTestDatabase, type TestDatabase } from "@funnel/db/testing";
import type { AcceptedEvent } from "@funnel/events";
import { storedEvent } from "@funnel/fixtures";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDeriver } from "./deriver";

const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const day = Date.UTC(2026, 4, 10, 12, 0, 0);
const logger = pino({ level: "silent" });

let database: TestDatabase;
const accountId = randomUUID();
const funnelId = randomUUID();

beforeAll(async () => {
  database = await createTestDatabase();
  await database.handle.db.insert(accounts).values({ id: accountId, name: "Shop" });
  await database.handle.db.insert(funnels).values({ id: funnelId, accountId, name: "Checkout" });
});

afterAll(async () => {
  await database?.drop();
});

function session(sessionId: string, events = 3): AcceptedEvent[] {
  const visitor = randomUUID();
  return Array.from({ length: events }, (_, i) => {
    const at = new Date(day + i * 60_000).toISOString();
    return storedEvent({
      event_type: "page_view",
      funnel_id: funnelId,
      visitor_id: visitor,
      session_id: sessionId,
      user_agent: CHROME,
      occurred_at: at,
      received_at: at,
    });
  });
}

async function backlog(): Promise<{ waiting: number; failed: number }> {
  const [row] = await queryRows<{ waiting: number; failed: number }>(
    database.handle.db,
    sql`select count(*) filter (where failed_at is null)::int as waiting,
        count(*) filter (where failed_at is not null)::int as failed from rollup_backlog`,
  );
  return row ?? { waiting: -1, failed: -1 };
}

async function until(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the worker's deriver", () => {
  it("derives what is stored, and sets aside only a row the database refuses, one row at a time", async () => {
    const db = database.handle.db;
    // The database refuses one session's rows, as it would a value out of a rollup column's range.
    await db.execute(sql`create function refuse_poison() returns trigger language plpgsql as $$
      begin
        if new.session_id = 'poison' then
          raise exception 'value out of range' using errcode = '22003';
        end if;
        return new;
      end $$`);
    await db.execute(
      sql`create trigger refuse_poison before insert on agg_sessions for each row execute function refuse_poison()`,
    );
    const good = Array.from({ length: 20 }, () => session(`s-${randomUUID()}`)).flat();
    const poison = session("poison");
    await writeBatch(
      db,
      { source: "import", accountId, accepted: [...good, ...poison], rejected: [] },
      { batchId: randomUUID() },
    );
    expect(await backlog()).toEqual({ waiting: good.length + poison.length, failed: 0 });

    const deriver = startDeriver({
      database: database.handle,
      logger,
      concurrency: 2,
      idleMs: 20,
      retryMs: 20,
    });
    try {
      await until("the backlog to be derived", async () => (await backlog()).waiting === 0);
    } finally {
      await deriver.close();
    }
    // Each of the poison session's rows failed alone; every other row was derived.
    expect(await backlog()).toEqual({ waiting: 0, failed: poison.length });
    const [sessions] = await queryRows<{ n: number }>(
      db,
      sql`select count(*)::int as n from agg_sessions where account_id = ${accountId}::uuid`,
    );
    expect(sessions?.n).toBe(20);
    const [failed] = await queryRows<{ error: string }>(db, sql`select error from rollup_backlog limit 1`);
    expect(failed?.error).toContain("value out of range");
  });
});
