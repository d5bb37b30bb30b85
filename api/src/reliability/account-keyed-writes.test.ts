import { randomUUID } from "node:crypto";
import { createDatabase, type DatabaseHandle } from "@funnel/db/client";
import { deriveAll } from "@funnel/db/queries/derive";
import { writeBatches } from "@funnel/db/queries/events";
import { withdrawConsent } from "@funnel/db/queries/privacy";
import { applyRetention } from "@funnel/db/retention";
import { accounts, funnels } from "@funnel/db/schema";
import { createTestDatabase, type TestDatabase } from "@funnel/db/testing";
import type { AcceptedEvent } from "@funnel/events";
import { storedEvent } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CapturedStatement, checkAccountKeyedReads } from "./account-keyed-plans";

/**
 * The ingest writer, a consent withdrawal and retention read, update and delete rows of events and
 * rollups too: each of those statements holds every row it touches to one account (a value) or to
 * the account of the row it is matched with (a write batch holds several accounts' events), so a
 * funnel, session or visitor id two accounts happen to share never reaches across. Every statement
 * sent while they run is captured and planned again; a scan of an events or rollup table held to
 * no account fails.
 */

const EVENTS_AND_ROLLUPS = /^(analytics_events|event_ids|agg_[a-z0-9_]+)$/;
const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const day = Date.UTC(2026, 4, 10, 12, 0, 0);
const at = (minutes: number) => new Date(day + minutes * 60_000).toISOString();

let testDatabase: TestDatabase;
let database: DatabaseHandle;
const statements: CapturedStatement[] = [];
let capturing = false;

interface Shop {
  accountId: string;
  funnelId: string;
  steps: [string, string];
  visitor: string;
}

function event(shop: Shop, fields: Partial<AcceptedEvent>): AcceptedEvent {
  return storedEvent({
    event_type: "page_view",
    funnel_id: shop.funnelId,
    session_id: "s-1",
    visitor_id: shop.visitor,
    occurred_at: at(0),
    received_at: at(0),
    url: "https://shop.example/checkout?email=a@b.example",
    referrer: "https://www.search.example/q",
    user_agent: CHROME,
    ip_address: "203.0.113.9",
    ...fields,
  });
}

/** One shop's traffic: two sessions through both steps, a purchase with products, a signup. */
function traffic(shop: Shop): AcceptedEvent[] {
  const [first, second] = shop.steps;
  const session = (id: string, offset: number) => [
    event(shop, { session_id: id, occurred_at: at(offset) }),
    event(shop, {
      session_id: id,
      event_type: "step_entry",
      funnel_step_id: first,
      occurred_at: at(offset + 1),
    }),
    event(shop, {
      session_id: id,
      event_type: "step_exit",
      funnel_step_id: first,
      next_step_id: second,
      exit_outcome: "forward",
      occurred_at: at(offset + 2),
    }),
    event(shop, {
      session_id: id,
      event_type: "step_entry",
      funnel_step_id: second,
      previous_step_id: first,
      occurred_at: at(offset + 3),
    }),
  ];
  return [
    ...session("s-1", 0),
    ...session("s-2", 60 * 26),
    event(shop, {
      session_id: "s-1",
      event_type: "conversion",
      conversion_type: "purchase",
      value_cents: 5_000,
      order_id: "order-1",
      occurred_at: at(5),
      metadata: { products: [{ product_id: "p-1", product_name: "Mug", quantity: 2, price_cents: 2_500 }] },
    }),
    event(shop, {
      session_id: "s-2",
      event_type: "conversion",
      conversion_type: "signup",
      occurred_at: at(60 * 26 + 5),
    }),
  ];
}

/** A refund as the merchant's server sends it (on /import): its own visitor and session. */
const refund = (shop: Shop, cents: number) =>
  event(shop, {
    event_type: "refund",
    value_cents: cents,
    order_id: "order-1",
    visitor_id: randomUUID(),
    session_id: "server",
    occurred_at: at(60),
  });

async function shop(): Promise<Shop> {
  const s: Shop = {
    accountId: randomUUID(),
    funnelId: randomUUID(),
    steps: [randomUUID(), randomUUID()],
    visitor: randomUUID(),
  };
  await database.db.insert(accounts).values({ id: s.accountId, name: `Shop ${s.accountId.slice(0, 8)}` });
  await database.db.insert(funnels).values({ id: s.funnelId, accountId: s.accountId, name: "Checkout" });
  return s;
}

const batch = (accountId: string | null, accepted: AcceptedEvent[]) => ({
  batch: {
    source: accountId === null ? ("track" as const) : ("import" as const),
    accountId,
    accepted,
    rejected: [],
  },
  options: { batchId: randomUUID(), receivedAt: new Date(day + 86_400_000 * 2) },
});

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  database = await createDatabase({
    url: testDatabase.url,
    poolMax: 2,
    statementTimeoutMs: 60_000,
    onQuery: (query, params) => {
      if (capturing) statements.push({ query, params });
    },
  });
  const a = await shop();
  const b = await shop();
  capturing = true;
  try {
    // One write holding both accounts' traffic and each one's refund.
    await writeBatches(database.db, [
      batch(null, [...traffic(a), ...traffic(b)]),
      batch(a.accountId, [refund(a, 1_000)]),
      batch(b.accountId, [refund(b, 9_000)]),
    ]);
    await deriveAll(database.db);
    // Late events: an earlier page view with a source moves the sessions' segment, an earlier
    // entry of the first step takes over the purchase, another purchase reaches an order refunded.
    const late = (s: Shop) => [
      event(s, { utm_source: "newsletter", occurred_at: at(-10) }),
      event(s, { event_type: "step_entry", funnel_step_id: s.steps[0], occurred_at: at(4) }),
      event(s, {
        session_id: "s-3",
        event_type: "conversion",
        conversion_type: "purchase",
        value_cents: 3_000,
        order_id: "order-1",
        occurred_at: at(30),
      }),
    ];
    await writeBatches(database.db, [batch(null, [...late(a), ...late(b)])]);
    await deriveAll(database.db);
    await withdrawConsent(database.db, a.accountId, a.visitor);
    // A cutoff before the traffic: every statement runs, and the events stay for the plans to read.
    await applyRetention(database.db, { now: new Date(day + 20 * 86_400_000), months: 1 });
  } finally {
    capturing = false;
  }
}, 180_000);

afterAll(async () => {
  await database?.close();
  await testDatabase?.drop();
});

describe("writes of events and rollups", () => {
  it("hold every scan of an events or rollup table to an account", async () => {
    const check = await checkAccountKeyedReads(database.db, statements, {
      tables: EVENTS_AND_ROLLUPS,
      joins: true,
    });
    const unkeyed = check.unkeyed.map(
      (u) =>
        `${u.table} (${u.node}; ${u.conditions.join(" / ") || "no condition"}) in: ${u.query.replace(/\s+/g, " ").slice(0, 300)}`,
    );
    expect(unkeyed, "scans held to no account").toEqual([]);
    // The run went through the writer's derivations, the withdrawal and retention: a check over
    // statements that read nothing would prove nothing.
    expect(check.statements).toBeGreaterThan(60);
    expect([...check.tablesRead].sort()).toEqual(
      expect.arrayContaining([
        "agg_active_days",
        "agg_conversions",
        "agg_day_links",
        "agg_sessions",
        "agg_step_converted",
        "agg_step_events",
        "agg_step_visits",
        "agg_conversions_daily",
        "agg_step_segments_daily",
        "analytics_events",
        "event_ids",
      ]),
    );
  });
});

describe("the join conditions the check reads", () => {
  it("hold a scan to another relation's account only where the join holds its rows", async () => {
    const plan = async (query: string) =>
      checkAccountKeyedReads(database.db, [{ query, params: [] }], {
        tables: EVENTS_AND_ROLLUPS,
        joins: true,
      });
    const keyed = await plan(
      `select * from agg_sessions s join (select account_id, funnel_id from agg_funnel_visitors where account_id = '${randomUUID()}'::uuid) v
        on s.account_id = v.account_id and s.funnel_id = v.funnel_id`,
    );
    expect(keyed.unkeyed).toEqual([]);
    const k = `unnest('{${randomUUID()}}'::uuid[], '{${randomUUID()}}'::uuid[]) as k(account_id, funnel_id)`;
    expect(
      (
        await plan(
          `select * from ${k} join agg_sessions s on s.account_id = k.account_id and s.funnel_id = k.funnel_id`,
        )
      ).unkeyed,
    ).toEqual([]);
    for (const query of [
      `select * from ${k} join agg_sessions s on s.funnel_id = k.funnel_id`,
      // The preserved side of an outer join is not held by its condition.
      `select * from agg_sessions s left join ${k} on s.account_id = k.account_id and s.funnel_id = k.funnel_id`,
      `select * from agg_sessions s join agg_converters c on c.funnel_id = s.funnel_id and c.account_id <> s.account_id`,
    ]) {
      const check = await plan(query);
      expect(check.unkeyed.length, query).toBeGreaterThan(0);
    }
  });
});
