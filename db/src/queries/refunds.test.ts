import { randomUUID } from "node:crypto";
import type { AcceptedEvent } from "@funnel/events";
import { storedEvent } from "@funnel/fixtures";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DatabaseHandle, queryRows } from "../client";
import { rebuildRollups } from "../rollups/run";
import { accounts, funnels } from "../schema";
import { createTestDatabase, createTestPglite, type TestDatabase } from "../testing";
import { deriveAll, deriveLane, laneOf } from "./derive";
import { writeBatch } from "./events";

/**
 * A refund counts only against its order (docs/metrics.md, "Refunds"): the funnel's earliest
 * conversion with a value and the same order_id, of the same account, up to its value. Whatever
 * order the purchase and its refunds arrive in, in one write or several, in lanes side by side,
 * the rollups end as the rebuild from the events makes them.
 */

const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const day = Date.UTC(2026, 4, 10, 12, 0, 0);
const receivedAt = new Date(day + 30 * 86_400_000);

let timescale: TestDatabase;
let pglite: DatabaseHandle;

interface Shop {
  accountId: string;
  funnelId: string;
}

async function shop(handle: DatabaseHandle): Promise<Shop> {
  const accountId = randomUUID();
  const funnelId = randomUUID();
  await handle.db.insert(accounts).values({ id: accountId, name: `Shop ${accountId.slice(0, 8)}` });
  await handle.db.insert(funnels).values({ id: funnelId, accountId, name: "Checkout" });
  return { accountId, funnelId };
}

function event(funnelId: string, fields: Partial<AcceptedEvent>): AcceptedEvent {
  const at = new Date(day).toISOString();
  return storedEvent({
    event_type: "page_view",
    funnel_id: funnelId,
    session_id: `s-${randomUUID()}`,
    visitor_id: randomUUID(),
    occurred_at: at,
    received_at: at,
    user_agent: CHROME,
    ...fields,
  });
}

const hours = (n: number) => new Date(day + n * 3_600_000).toISOString();

const purchase = (s: Shop, orderId: string, cents: number, at = 0, visitor = randomUUID()) =>
  event(s.funnelId, {
    event_type: "conversion",
    conversion_type: "purchase",
    value_cents: cents,
    order_id: orderId,
    visitor_id: visitor,
    occurred_at: hours(at),
  });

/** A refund as the merchant's server sends it: its own visitor and session, not the buyer's. */
const refund = (s: Shop, orderId: string, cents: number, at = 1) =>
  event(s.funnelId, { event_type: "refund", value_cents: cents, order_id: orderId, occurred_at: hours(at) });

/** One write (one transaction), as one ingest job of the account's /import. */
async function write(handle: DatabaseHandle, s: Shop, events: AcceptedEvent[]): Promise<void> {
  await writeBatch(
    handle.db,
    { source: "import", accountId: s.accountId, accepted: events, rejected: [] },
    { batchId: randomUUID(), receivedAt },
  );
  await deriveAll(handle.db);
}

/** The refunds counted in the funnel's daily rollup, which the revenue report reads. */
async function counted(handle: DatabaseHandle, s: Shop): Promise<{ refunds: number; cents: number }> {
  const [row] = await queryRows<{ refunds: number; cents: number }>(
    handle.db,
    sql`select coalesce(sum(conversions), 0)::int as refunds, coalesce(sum(value_cents), 0)::int as cents
      from agg_conversions_daily
      where account_id = ${s.accountId}::uuid and funnel_id = ${s.funnelId}::uuid and kind = 'refund'`,
  );
  return row ?? { refunds: 0, cents: 0 };
}

/** Each refund of the funnel: what it asked, what counts, and why not all of it. */
async function refundRows(handle: DatabaseHandle, s: Shop) {
  return queryRows<{
    order_id: string;
    kind: string;
    value_cents: number;
    asked_cents: number;
    held_reason: string | null;
  }>(
    handle.db,
    sql`select order_id, kind, value_cents, asked_cents, held_reason from agg_conversions
      where account_id = ${s.accountId}::uuid and funnel_id = ${s.funnelId}::uuid and kind <> 'conversion'
      order by at, event_id`,
  );
}

/** The rollups that hold conversions and refunds, whole. */
async function conversionRollups(handle: DatabaseHandle) {
  const rows = async (table: string, order: string) =>
    (
      await queryRows<{ j: unknown }>(
        handle.db,
        sql.raw(`select row_to_json(t)::text as j from ${table} t order by ${order}`),
      )
    ).map((r) => (typeof r.j === "string" ? JSON.parse(r.j) : r.j));
  return {
    conversions: await rows("agg_conversions", "funnel_id, event_id"),
    daily: await rows("agg_conversions_daily", "funnel_id, bucket, kind, conversion_type, step_id, source"),
    sessions: await rows("agg_converting_sessions", "funnel_id, session_id, visitor_id"),
  };
}

async function expectRebuildEqual(handle: DatabaseHandle): Promise<void> {
  const incremental = await conversionRollups(handle);
  await rebuildRollups(handle.db);
  expect(await conversionRollups(handle)).toEqual(incremental);
}

beforeAll(async () => {
  timescale = await createTestDatabase();
  pglite = await createTestPglite();
  await pglite.db.execute(sql`set time zone 'UTC'`);
});

afterAll(async () => {
  await timescale?.drop();
  await pglite?.close();
});

describe("refunds against their order", () => {
  it("keeps a refund without a purchase aside, counting nothing", async () => {
    const handle = timescale.handle;
    const s = await shop(handle);
    await write(handle, s, [refund(s, "no-such-order", 2_147_483_647)]);
    expect(await counted(handle, s)).toEqual({ refunds: 0, cents: 0 });
    expect(await refundRows(handle, s)).toEqual([
      {
        order_id: "no-such-order",
        kind: "refund_held",
        value_cents: 0,
        asked_cents: 2_147_483_647,
        held_reason: "no_order",
      },
    ]);
    await expectRebuildEqual(handle);
  });

  for (const [name, handleOf] of [
    ["TimescaleDB", () => timescale.handle],
    ["PGlite", () => pglite],
  ] as const) {
    it(`counts a refund once its purchase is stored, whichever write comes first (${name})`, async () => {
      const handle = handleOf();
      const s = await shop(handle);
      // Refund first, purchase in a later write.
      await write(handle, s, [refund(s, "late-purchase", 1_500)]);
      expect(await counted(handle, s)).toEqual({ refunds: 0, cents: 0 });
      await write(handle, s, [purchase(s, "late-purchase", 5_000)]);
      expect(await counted(handle, s)).toEqual({ refunds: 1, cents: 1_500 });
      // Purchase first, refund in a later write.
      await write(handle, s, [purchase(s, "early-purchase", 3_000)]);
      await write(handle, s, [refund(s, "early-purchase", 1_000, 2)]);
      expect(await counted(handle, s)).toEqual({ refunds: 2, cents: 2_500 });
      expect((await refundRows(handle, s)).map((r) => [r.kind, r.value_cents, r.held_reason])).toEqual([
        ["refund", 1_500, null],
        ["refund", 1_000, null],
      ]);
      await expectRebuildEqual(handle);
    });
  }

  it("caps an order's refunds together at its value, oldest refund first, in any order of arrival", async () => {
    const handle = timescale.handle;
    const s = await shop(handle);
    const [a, b, c] = [refund(s, "o-1", 600, 1), refund(s, "o-1", 600, 2), refund(s, "o-1", 600, 3)];
    // The newest refund first, then the purchase, then the older ones: the older ones take the value.
    await write(handle, s, [c]);
    await write(handle, s, [purchase(s, "o-1", 1_000)]);
    expect(await counted(handle, s)).toEqual({ refunds: 1, cents: 600 });
    await write(handle, s, [b]);
    await write(handle, s, [a]);
    expect(await counted(handle, s)).toEqual({ refunds: 2, cents: 1_000 });
    expect(
      (await refundRows(handle, s)).map((r) => [r.kind, r.value_cents, r.asked_cents, r.held_reason]),
    ).toEqual([
      ["refund", 600, 600, null],
      ["refund", 400, 600, "exceeds_order"],
      ["refund_held", 0, 600, "exceeds_order"],
    ]);
    await expectRebuildEqual(handle);
  });

  it("takes the earliest purchase of an order_id as the order, whichever arrives first", async () => {
    const handle = timescale.handle;
    const s = await shop(handle);
    await write(handle, s, [refund(s, "dup", 5_000, 5)]);
    await write(handle, s, [purchase(s, "dup", 4_000, 2)]);
    expect(await counted(handle, s)).toEqual({ refunds: 1, cents: 4_000 });
    // An earlier purchase of the same order_id arrives: it is the order now.
    await write(handle, s, [purchase(s, "dup", 1_000, 0)]);
    expect(await counted(handle, s)).toEqual({ refunds: 1, cents: 1_000 });
    await expectRebuildEqual(handle);
  });

  it("never matches another account's purchase with the same order_id", async () => {
    const handle = timescale.handle;
    const mine = await shop(handle);
    const theirs = await shop(handle);
    await write(handle, theirs, [purchase(theirs, "shared-id", 9_000)]);
    await write(handle, mine, [refund(mine, "shared-id", 9_000)]);
    expect(await counted(handle, mine)).toEqual({ refunds: 0, cents: 0 });
    expect(await counted(handle, theirs)).toEqual({ refunds: 0, cents: 0 });
    expect((await refundRows(handle, mine)).map((r) => r.held_reason)).toEqual(["no_order"]);
    await expectRebuildEqual(handle);
  });

  it("counts a refund whose purchase is written by another transaction at the same time", async () => {
    // The deriver's lanes go by funnel and visitor, and a server-side refund carries another visitor
    // than the purchase: the two may be derived by two transactions at once. Both are held at
    // their last statement (the count rows) until each has read the order: neither sees the
    // other's rows uncommitted, so only the order's lock makes the later one wait and count.
    const race = await createTestDatabase({ poolMax: 6 });
    try {
      const handle = race.handle;
      const s = await shop(handle);
      // The events' time chunk exists first: a write creating it makes a concurrent one wait.
      await write(handle, s, [event(s.funnelId, { occurred_at: hours(0) })]);
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let holding = () => {};
      const held = new Promise<void>((resolve) => {
        holding = resolve;
      });
      const blocker = handle.db.transaction(async (tx) => {
        await tx.execute(sql`lock table agg_event_counts in share mode`);
        holding();
        await released;
      });
      await held;
      // The buyer in another lane than the refund's visitor, each lane derived by a transaction of
      // its own (in one lane, one derivation would take both rows and the race could not happen).
      const sent = refund(s, "same-time", 700);
      const lane = async (visitor: string) => {
        const [row] = await queryRows<{ lane: number }>(
          handle.db,
          sql`select ${laneOf(sql`${s.funnelId}::uuid`, sql`${visitor}::uuid`)} as lane`,
        );
        return Number(row?.lane);
      };
      let buyer = randomUUID();
      while ((await lane(buyer)) === (await lane(sent.visitor_id))) buyer = randomUUID();
      const store = (events: AcceptedEvent[]) =>
        writeBatch(
          handle.db,
          { source: "import", accountId: s.accountId, accepted: events, rejected: [] },
          { batchId: randomUUID(), receivedAt },
        );
      await store([purchase(s, "same-time", 2_000, 0, buyer)]);
      await store([sent]);
      const writes = Promise.all([
        deriveLane(handle.db, await lane(buyer)),
        deriveLane(handle.db, await lane(sent.visitor_id)),
      ]);
      for (let waited = 0; ; waited += 50) {
        const [row] = await queryRows<{ n: number }>(
          handle.db,
          sql`select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'`,
        );
        if ((row?.n ?? 0) >= 2) break;
        if (waited > 60_000) throw new Error("the two writes never met");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      release();
      await blocker;
      expect((await writes).map((r) => r.derived)).toEqual([1, 1]);
      expect(await counted(handle, s)).toEqual({ refunds: 1, cents: 700 });
      await expectRebuildEqual(handle);
    } finally {
      await race.drop();
    }
  });
});
