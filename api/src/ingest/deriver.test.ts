import { randomUUID } from "node:crypto";
import { queryRows } from "@funnel/db/client";
import { sql } from "@funnel/db/orm";
import type { DeriveResult } from "@funnel/db/queries/derive";
import { writeBatch } from "@funnel/db/queries/events";
import { accounts, funnels } from "@funnel/db/schema";
import { createTestDatabase, type TestDatabase } from "@funnel/db/testing";
import type { AcceptedEvent } from "@funnel/events";
import { storedEvent } from "@funnel/fixtures";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startDeriver } from "./deriver";

// The loops' calls into the derive queries, seen (and, for the race below, held) by the tests.
// Without a hook installed they pass straight through.
const hooks: {
  derived?: (result: DeriveResult) => void;
  failRows?: (run: () => Promise<void>, seqs: string[]) => Promise<void>;
} = {};

vi.mock("@funnel/db/queries/derive", async (importOriginal) => {
  const actual = await importOriginal<typeof import("@funnel/db/queries/derive")>();
  return {
    ...actual,
    deriveLane: async (...args: Parameters<typeof actual.deriveLane>) => {
      const result = await actual.deriveLane(...args);
      hooks.derived?.(result);
      return result;
    },
    failRows: (...args: Parameters<typeof actual.failRows>) => {
      const run = () => actual.failRows(...args);
      return hooks.failRows ? hooks.failRows(run, args[2]) : run();
    },
  };
});

const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const day = Date.UTC(2026, 4, 10, 12, 0, 0);
const logger = pino({ level: "silent" });

let database: TestDatabase;
const accountId = randomUUID();
const funnelId = randomUUID();

beforeAll(async () => {
  database = await createTestDatabase();
  const db = database.handle.db;
  await db.insert(accounts).values({ id: accountId, name: "Shop" });
  await db.insert(funnels).values({ id: funnelId, accountId, name: "Checkout" });
  // The database refuses the rows of a session named 'poison', as it would a value out of a rollup
  // column's range.
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
});

afterAll(async () => {
  await database?.drop();
});

function session(
  sessionId: string,
  events = 3,
  visitor: string = randomUUID(),
  funnel: string = funnelId,
): AcceptedEvent[] {
  return Array.from({ length: events }, (_, i) => {
    const at = new Date(day + i * 60_000).toISOString();
    return storedEvent({
      event_type: "page_view",
      funnel_id: funnel,
      visitor_id: visitor,
      session_id: sessionId,
      user_agent: CHROME,
      occurred_at: at,
      received_at: at,
    });
  });
}

async function backlog(account: string = accountId): Promise<{ waiting: number; failed: number }> {
  const [row] = await queryRows<{ waiting: number; failed: number }>(
    database.handle.db,
    sql`select count(*) filter (where failed_at is null)::int as waiting,
        count(*) filter (where failed_at is not null)::int as failed
      from rollup_backlog where account_id = ${account}::uuid`,
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
    const [failed] = await queryRows<{ error: string }>(
      db,
      sql`select error from rollup_backlog where account_id = ${accountId}::uuid limit 1`,
    );
    expect(failed?.error).toContain("value out of range");
  });

  it("sets aside only the refused row when two loops meet it alone, one marking it after the other read it", async () => {
    const db = database.handle.db;
    const account = randomUUID();
    const funnel = randomUUID();
    await db.insert(accounts).values({ id: account, name: "Race" });
    await db.insert(funnels).values({ id: funnel, accountId: account, name: "Checkout" });
    // One visitor, so one lane: the refused row first, then good rows behind it in the same lane
    // (marking "the lane's oldest row" a second time would take the first of them).
    const visitor = randomUUID();
    const poison = session("poison", 1, visitor, funnel);
    const good = Array.from({ length: 6 }, () => session(`s-${randomUUID()}`, 2, visitor, funnel)).flat();
    await writeBatch(
      db,
      { source: "import", accountId: account, accepted: poison, rejected: [] },
      { batchId: randomUUID() },
    );
    await writeBatch(
      db,
      { source: "import", accountId: account, accepted: good, rejected: [] },
      { batchId: randomUUID() },
    );
    const [refused] = await queryRows<{ seq: string; lane: number }>(
      db,
      sql`select seq::text as seq, lane from rollup_backlog
        where account_id = ${account}::uuid and session_id = 'poison'`,
    );
    const [lanes] = await queryRows<{ n: number; later: number }>(
      db,
      sql`select count(distinct lane)::int as n, count(*) filter (where seq > ${refused?.seq}::int8)::int as later
        from rollup_backlog where account_id = ${account}::uuid`,
    );
    expect(lanes).toEqual({ n: 1, later: good.length });

    // The interleaving: the first loop to mark a row failed waits until a second loop has failed on
    // a row alone too (so it read that row before the first marked it), then marks; the second
    // marks after it. The failed_at the first mark set is kept to see that the second leaves it.
    const marks: string[][] = [];
    let secondFailed: () => void = () => {};
    const second = new Promise<void>((resolve) => {
      secondFailed = resolve;
    });
    let firstMarked: () => void = () => {};
    const first = new Promise<void>((resolve) => {
      firstMarked = resolve;
    });
    let firstMark: string | undefined;
    let derived = 0;
    hooks.derived = (result) => {
      derived += result.derived;
    };
    hooks.failRows = async (run, seqs) => {
      marks.push(seqs);
      if (marks.length === 1) {
        // Bounded, so a missed race fails the assertions below rather than hanging the test.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([second, new Promise((r) => (timer = setTimeout(r, 20_000)))]);
        clearTimeout(timer);
        await run();
        const [row] = await queryRows<{ at: string }>(
          db,
          sql`select failed_at::text as at from rollup_backlog where account_id = ${account}::uuid
            and failed_at is not null order by seq limit 1`,
        );
        firstMark = row?.at;
        firstMarked();
      } else if (marks.length === 2) {
        secondFailed();
        await first;
        await run();
      } else {
        await run();
      }
    };

    const deriver = startDeriver({
      database: database.handle,
      logger,
      concurrency: 2,
      idleMs: 20,
      retryMs: 20,
      maxEvents: 8,
    });
    try {
      await until("the race's backlog to be derived", async () => (await backlog(account)).waiting === 0);
    } finally {
      await deriver.close();
      hooks.derived = undefined;
      hooks.failRows = undefined;
    }

    // Both loops met the refused row alone, each naming it by its seq.
    expect(marks).toEqual([[refused?.seq], [refused?.seq]]);
    // That row alone is set aside, with the mark the first loop gave it.
    const setAside = await queryRows<{ seq: string; at: string; error: string }>(
      db,
      sql`select seq::text as seq, failed_at::text as at, error from rollup_backlog
        where account_id = ${account}::uuid order by seq`,
    );
    expect(setAside).toEqual([{ seq: refused?.seq, at: firstMark, error: "value out of range" }]);
    // Every good row derived once, each of their sessions counted; the refused one not.
    expect(derived).toBe(good.length);
    const sessions = await queryRows<{ id: string }>(
      db,
      sql`select session_id as id from agg_sessions where funnel_id = ${funnel}::uuid`,
    );
    expect(sessions.map((s) => s.id).sort()).toEqual([...new Set(good.map((e) => e.session_id))].sort());
  });
});
