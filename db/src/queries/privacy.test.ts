import { randomUUID } from "node:crypto";
import type { AcceptedEvent } from "@funnel/events";
import { storedEvent } from "@funnel/fixtures";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, type DatabaseHandle, queryRows } from "../client";
import { accounts, funnels } from "../schema";
import { createTestDatabase, createTestPglite, type TestDatabase } from "../testing";
import { UNIT } from "./day-links";
import { deriveAll } from "./derive";
import { writeBatch } from "./events";
import {
  anonymisedPayload,
  anonymisedUrl,
  anonymisedUrlSql,
  type ConsentWithdrawal,
  lockAccountsShared,
  visitorHash,
  withdrawConsent,
} from "./privacy";

/**
 * Consent withdrawal in the database, on TimescaleDB and PGlite: every rollup changes only in its
 * visitor and session ids (so every count stays), no table keeps the visitor id, personal fields
 * are gone, later events of the visitor are stored anonymised, and another account's visitor with
 * the same id is untouched.
 */

const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const T0 = Date.UTC(2026, 1, 27, 23, 40); // crosses a day and a month boundary

const accountA = randomUUID();
const accountB = randomUUID();
const funnelA = randomUUID();
const funnelA2 = randomUUID();
const funnelB = randomUUID();
const steps = [randomUUID(), randomUUID()];
/** The visitor who withdraws; `other` shares one of its sessions (an import source's own ids). */
const visitor = randomUUID();
const other = randomUUID();

let seq = 0;
function event(
  funnelId: string,
  visitorId: string,
  sessionId: string,
  type: AcceptedEvent["event_type"],
  minutes: number,
  overrides: Partial<AcceptedEvent> = {},
): AcceptedEvent {
  const at = new Date(T0 + minutes * 60_000).toISOString();
  const step = type === "step_entry" || type === "step_exit" ? (steps[seq++ % 2] ?? null) : null;
  return storedEvent({
    event_type: type,
    funnel_id: funnelId,
    session_id: sessionId,
    visitor_id: visitorId,
    occurred_at: at,
    received_at: at,
    page_id: type === "page_view" ? randomUUID() : null,
    funnel_step_id: step,
    exit_outcome: type === "step_exit" ? "bounce" : null,
    conversion_type: type === "conversion" ? "purchase" : null,
    value_cents: type === "conversion" || type === "refund" ? 4_900 : null,
    order_id: type === "refund" ? "order-1" : null,
    url: "https://user:secret@shop.example.com/checkout/step?email=jane%40example.com#card",
    referrer: "https://www.google.com/search?q=jane+doe",
    utm_source: "newsletter",
    user_agent: CHROME,
    ip_address: "203.0.113.77",
    metadata: {
      email: "jane@example.com",
      ...(type === "step_exit" ? { reason: "price" } : {}),
      ...(type === "conversion" ? { products: [{ product_id: "p1", quantity: 1, price_cents: 4_900 }] } : {}),
    },
    ...overrides,
  });
}

/** The visitor's traffic in A (two funnels, several sessions, a bot hit) and the same id in B. */
function traffic(): AcceptedEvent[] {
  const own = (n: number) => `sess-${visitor.slice(0, 8)}-${n}`;
  const shared = `shared-${visitor.slice(0, 8)}`;
  const types = [
    "page_view",
    "step_entry",
    "step_exit",
    "step_entry",
    "conversion",
    "refund",
    "page_view",
  ] as const;
  return [
    ...types.map((type, i) => event(funnelA, visitor, own(1), type, i * 4)),
    ...types.map((type, i) => event(funnelA, visitor, own(2), type, 60 * 24 + i * 7)),
    ...types.slice(0, 3).map((type, i) => event(funnelA2, visitor, own(1), type, i)),
    event(funnelA, visitor, shared, "page_view", 30),
    event(funnelA, other, shared, "page_view", 31),
    event(funnelA, other, `sess-${other.slice(0, 8)}`, "conversion", 32),
    event(funnelA, visitor, own(3), "page_view", 40, { user_agent: BOT }),
    ...types.map((type, i) => event(funnelB, visitor, own(1), type, i * 5)),
  ];
}

async function seed(handle: DatabaseHandle): Promise<void> {
  await handle.db.insert(accounts).values([
    { id: accountA, name: "A" },
    { id: accountB, name: "B" },
  ]);
  await handle.db.insert(funnels).values([
    { id: funnelA, accountId: accountA, name: "A" },
    { id: funnelA2, accountId: accountA, name: "A2" },
    { id: funnelB, accountId: accountB, name: "B" },
  ]);
  const events = traffic();
  // Two batches, and refused payloads that name the visitor, in A and in B.
  await writeBatch(
    handle.db,
    {
      source: "track",
      accountId: null,
      accepted: events.slice(0, 20),
      rejected: [
        {
          index: 0,
          errors: [{ field: "timestamp", message: "bad" }],
          raw: {
            funnel_id: funnelA,
            visitor_id: visitor.toUpperCase(),
            session_id: "sess-x",
            url: "https://a.example/?q=1",
            ip_address: "203.0.113.9",
            metadata: { email: "jane@example.com" },
          },
        },
        {
          index: 1,
          errors: [{ field: "timestamp", message: "bad" }],
          raw: { funnel_id: funnelB, visitor_id: visitor, ip_address: "203.0.113.9" },
        },
      ],
    },
    { batchId: randomUUID() },
  );
  await writeBatch(
    handle.db,
    { source: "track", accountId: null, accepted: events.slice(20), rejected: [] },
    { batchId: randomUUID() },
  );
  await deriveAll(handle.db);
}

/** Tables of the database that have a visitor_id column (and an account_id one). */
async function visitorTables(db: Database): Promise<string[]> {
  const rows = await queryRows<{ table_name: string }>(
    db,
    sql`select c.table_name from information_schema.columns c
      join information_schema.tables t using (table_schema, table_name)
      where c.column_name = 'visitor_id' and c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
        and c.table_name not like 'analytics_events_%'
      order by 1`,
  );
  return rows.map((r) => r.table_name);
}

type Row = Record<string, unknown>;

async function rowsOf(db: Database, table: string): Promise<Row[]> {
  const rows = await queryRows<{ j: string | Row }>(
    db,
    sql.raw(`select row_to_json(t)::text as j from ${table} t`),
  );
  return rows.map((r) => (typeof r.j === "string" ? (JSON.parse(r.j) as Row) : r.j));
}

/** Every rollup row that has a visitor id, as JSON, sorted. */
async function rollups(db: Database): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of await visitorTables(db)) {
    if (!table.startsWith("agg_")) continue;
    out[table] = (await rowsOf(db, table)).map((row) => JSON.stringify(row)).sort();
  }
  // Days seen name a visitor or a session in `unit`, not in visitor_id.
  out.agg_active_days = (await rowsOf(db, "agg_active_days")).map((row) => JSON.stringify(row)).sort();
  return out;
}

async function eventsOf(db: Database, where: ReturnType<typeof sql>): Promise<Row[]> {
  return queryRows<Row>(
    db,
    sql`select event_id, account_id, visitor_id, session_id, url, user_agent, host(ip_address) as ip, referrer,
        metadata, is_bot, device_type, browser, utm_source from analytics_events where ${where}`,
  );
}

interface Harness {
  handle: DatabaseHandle;
  drop(): Promise<void>;
}

describe.each([
  ["TimescaleDB", (): Promise<Harness> => createTestDatabase()],
  [
    "PGlite",
    async (): Promise<Harness> => {
      const handle = await createTestPglite();
      return { handle, drop: () => handle.close() };
    },
  ],
])("withdrawConsent on %s", (_name, create) => {
  let test: Harness;
  let db: Database;
  let before: Record<string, string[]>;
  let eventsBefore: Row[];
  let withdrawal: ConsentWithdrawal;

  beforeAll(async () => {
    test = await create();
    db = test.handle.db;
    await seed(test.handle);
    before = await rollups(db);
    eventsBefore = await eventsOf(db, sql`true`);
    withdrawal = await withdrawConsent(db, accountA, visitor.toUpperCase(), {
      now: new Date("2026-03-05T10:00:00Z"),
    });
  });
  afterAll(() => test?.drop());

  it("anonymises every event of the visitor in the account, bots included", async () => {
    const mine = eventsBefore.filter((e) => e.account_id === accountA && e.visitor_id === visitor);
    expect(withdrawal.events).toBe(mine.length);
    expect(mine.length).toBe(19);
    expect(withdrawal.funnelIds).toEqual([funnelA, funnelA2].sort());
    const after = await eventsOf(
      db,
      sql`event_id = any(${sql.param(mine.map((e) => e.event_id))}::text[]::uuid[])`,
    );
    expect(after).toHaveLength(mine.length);
    for (const e of after) {
      expect(e).toMatchObject({
        visitor_id: withdrawal.anonymousVisitorId,
        url: "https://shop.example.com/checkout/step",
        user_agent: null,
        ip: null,
        referrer: null,
        metadata: {},
        // Coarse fields reports count by stay.
        utm_source: "newsletter",
      });
      expect(e.device_type).not.toBeNull();
    }
    // Its own sessions got new ids; the one shared with another visitor kept its id.
    expect([...withdrawal.sessions.keys()].sort()).toEqual(
      [1, 2, 3].map((n) => `sess-${visitor.slice(0, 8)}-${n}`),
    );
    const sessions = new Set(after.map((e) => e.session_id));
    expect(sessions).toEqual(new Set([...withdrawal.sessions.values(), `shared-${visitor.slice(0, 8)}`]));
  });

  it("changes the rollups only in the visitor's ids, so every count stays", async () => {
    expect(await rollups(db)).toEqual(await rollupsBefore());
    expect(Object.keys(before)).toEqual(expect.arrayContaining(["agg_session_buckets", "agg_conversions"]));
    const named = (json: string, unit: string) => {
      const row = JSON.parse(json) as Row;
      return row.account_id === accountA && row.unit === unit;
    };
    expect(before.agg_active_days?.some((json) => named(json, visitor))).toBe(true);
    expect((await rollups(db)).agg_active_days?.some((json) => named(json, visitor))).toBe(false);
  });

  async function rollupsBefore() {
    // The snapshot taken before, with the withdrawal's replacements applied in plain code.
    const out: Record<string, string[]> = {};
    for (const [table, rows] of Object.entries(before)) {
      out[table] = rows
        .map((json) => JSON.parse(json) as Row)
        .map((row) => {
          if (table === "agg_active_days") {
            if (row.account_id !== accountA) return row;
            if (row.kind !== UNIT.session && row.unit === visitor) {
              return { ...row, unit: withdrawal.anonymousVisitorId };
            }
            const session =
              row.kind === UNIT.session && typeof row.unit === "string"
                ? withdrawal.sessions.get(row.unit)
                : undefined;
            return session === undefined ? row : { ...row, unit: session };
          }
          if (row.account_id !== accountA || row.visitor_id !== visitor) return row;
          const session =
            typeof row.session_id === "string" ? withdrawal.sessions.get(row.session_id) : undefined;
          return {
            ...row,
            visitor_id: withdrawal.anonymousVisitorId,
            ...(session === undefined ? {} : { session_id: session }),
          };
        })
        .map((row) => JSON.stringify(row))
        .sort();
    }
    return out;
  }

  it("leaves the visitor id in no table of the account, and another account's visitor as it was", async () => {
    const tables = await visitorTables(db);
    expect(tables).toEqual(
      expect.arrayContaining(["analytics_events", "agg_funnel_visitors", "agg_sessions"]),
    );
    for (const table of tables) {
      const [row] = await queryRows<{ a: number | string; b: number | string }>(
        db,
        sql.raw(`select count(*) filter (where account_id = '${accountA}') as a,
          count(*) filter (where account_id = '${accountB}') as b
          from ${table} where visitor_id = '${visitor}'`),
      );
      expect(Number(row?.a), table).toBe(0);
    }
    const inB = eventsBefore.filter((e) => e.account_id === accountB);
    expect(await eventsOf(db, sql`account_id = ${accountB}::uuid`)).toEqual(expect.arrayContaining(inB));
    expect(inB.length).toBeGreaterThan(0);
    const others = eventsBefore.filter((e) => e.visitor_id === other);
    expect(await eventsOf(db, sql`visitor_id = ${other}::uuid`)).toEqual(expect.arrayContaining(others));
  });

  it("anonymises refused payloads that name the visitor in the account, not another account's", async () => {
    const rejected = await queryRows<{ account_id: string; payload: Row | string }>(
      db,
      sql`select account_id, payload from rejected_events`,
    );
    const payloads = rejected.map((r) => ({
      account: r.account_id,
      payload: typeof r.payload === "string" ? (JSON.parse(r.payload) as Row) : r.payload,
    }));
    expect(payloads.find((p) => p.account === accountA)?.payload).toEqual({
      funnel_id: funnelA,
      visitor_id: withdrawal.anonymousVisitorId,
      session_id: expect.not.stringMatching(/^sess-x$/),
      url: "https://a.example/",
      ip_address: null,
      metadata: {},
    });
    expect(payloads.find((p) => p.account === accountB)?.payload).toMatchObject({ visitor_id: visitor });
  });

  it("records only a hash of the visitor id, once", async () => {
    const rows = await queryRows<Row>(db, sql`select account_id, visitor_hash from consent_withdrawals`);
    expect(rows).toEqual([{ account_id: accountA, visitor_hash: visitorHash(visitor) }]);
    const again = await withdrawConsent(db, accountA, visitor);
    expect(again.events).toBe(0);
    expect(again.withdrawnAt).toEqual(new Date("2026-03-05T10:00:00Z"));
  });

  it("stores events of the visitor that arrive later anonymised, in that account only", async () => {
    const late = [
      event(funnelA, visitor, "late-session", "page_view", 200),
      event(funnelA, visitor, "late-session", "conversion", 201),
      event(funnelB, visitor, "late-session", "page_view", 202),
    ];
    const result = await writeBatch(
      db,
      {
        source: "track",
        accountId: null,
        accepted: late,
        rejected: [
          { index: 9, errors: [], raw: { funnel_id: funnelA, visitor_id: visitor, user_agent: CHROME } },
        ],
      },
      { batchId: randomUUID() },
    );
    expect(result.inserted).toBe(3);
    const stored = await eventsOf(
      db,
      sql`event_id = any(${sql.param(late.map((e) => e.event_id))}::text[]::uuid[])`,
    );
    const inA = stored.filter((e) => e.account_id === accountA);
    expect(inA).toHaveLength(2);
    // One anonymous visitor and one session for the batch: its own figures stay consistent.
    expect(new Set(inA.map((e) => e.visitor_id)).size).toBe(1);
    expect(new Set(inA.map((e) => e.session_id)).size).toBe(1);
    for (const e of inA) {
      expect(e.visitor_id).not.toBe(visitor);
      expect(e.visitor_id).not.toBe(withdrawal.anonymousVisitorId);
      expect(e.session_id).not.toBe("late-session");
      expect(e).toMatchObject({ user_agent: null, ip: null, referrer: null, metadata: {} });
      expect(e.url).toBe("https://shop.example.com/checkout/step");
    }
    expect(stored.find((e) => e.account_id === accountB)).toMatchObject({
      visitor_id: visitor,
      ip: "203.0.113.0",
    });
    const [rollup] = await queryRows<{ n: number | string }>(
      db,
      sql`select count(*) as n from agg_conversions where visitor_id = ${visitor}::uuid and account_id = ${accountA}::uuid`,
    );
    expect(Number(rollup?.n)).toBe(0);
    const [refused] = await queryRows<{ payload: Row | string }>(
      db,
      sql`select payload from rejected_events where payload ->> 'user_agent' is null and payload ? 'user_agent'`,
    );
    expect(refused).toBeDefined();
  });
});

describe("withdrawConsent and the writer", () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase();
  });
  afterAll(() => test?.drop());

  it("waits for a batch of the account in flight, then anonymises what it wrote", async () => {
    const { db } = test.handle;
    const account = randomUUID();
    const funnel = randomUUID();
    const id = randomUUID();
    await db.insert(accounts).values({ id: account, name: "race" });
    await db.insert(funnels).values({ id: funnel, accountId: account, name: "race" });
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked: () => void = () => {};
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    // A writer's transaction: holds the account's shared lock, writes an event of the visitor.
    const writer = db.transaction(async (tx) => {
      await lockAccountsShared(tx as unknown as Database, [account]);
      locked();
      await held;
      await tx.execute(
        sql`insert into analytics_events (event_id, account_id, funnel_id, event_type, visitor_id, session_id, created_at)
          values (gen_random_uuid(), ${account}::uuid, ${funnel}::uuid, 'page_view', ${id}::uuid, 's', now())`,
      );
    });
    await isLocked;
    let done = false;
    const withdrawal = withdrawConsent(db, account, id).then((w) => {
      done = true;
      return w;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(done).toBe(false);
    release();
    await writer;
    expect((await withdrawal).events).toBe(1);
  });
});

describe("anonymised URLs and payloads", () => {
  const urls = [
    "https://shop.example.com/a/b?x=1#top",
    "https://user:pw@shop.example.com:8443/a?x",
    "http://shop.example.com",
    "/relative/path?q=1",
    "https://shop.example.com/a#frag?not-a-query",
    "not a url",
    "",
  ];

  it("keep scheme, host and path, in JS as in SQL", async () => {
    const handle = await createTestPglite();
    try {
      for (const url of urls) {
        const [row] = await queryRows<{ cut: string }>(
          handle.db,
          sql`select ${anonymisedUrlSql(sql`${url}::text`)} as cut`,
        );
        expect(anonymisedUrl(url), url).toBe(row?.cut);
      }
    } finally {
      await handle.close();
    }
    expect(anonymisedUrl(urls[0])).toBe("https://shop.example.com/a/b");
    expect(anonymisedUrl(urls[1])).toBe("https://shop.example.com:8443/a");
    expect(anonymisedUrl(null)).toBeNull();
  });

  it("clear the personal fields a payload has, and add none", () => {
    expect(
      anonymisedPayload(
        { visitor_id: "v", session_id: "s", referrer: "r", value_cents: 1 },
        "anon",
        () => "s2",
      ),
    ).toEqual({ visitor_id: "anon", session_id: "s2", referrer: null, value_cents: 1 });
    expect(anonymisedPayload(null, "anon", () => "s")).toBeNull();
  });

  it("drop the fields of a refused payload that no stored event keeps, and kept fields that are not plain values", () => {
    expect(
      anonymisedPayload(
        {
          visitor_id: "v",
          event_type: "page_view",
          url: { href: "https://shop.example.com/?email=jane" },
          utm_source: { email: "jane@example.com" },
          email: "jane@example.com",
          customer: { name: "Jane Doe" },
          metadata: "jane",
        },
        "anon",
        () => "s2",
      ),
    ).toEqual({ visitor_id: "anon", event_type: "page_view", url: null, metadata: {} });
  });
});
