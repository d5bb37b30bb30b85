import { randomUUID } from "node:crypto";
import { type AcceptedEvent, validateEvents } from "@funnel/events";
import { generateTraffic, springSale, storedEvent } from "@funnel/fixtures";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DatabaseHandle, queryRows } from "../client";
import { rebuildRollups } from "../rollups/run";
import { accounts, funnels, NO_STEP } from "../schema";
import { createTestDatabase, createTestPglite, type TestDatabase } from "../testing";
import { deriveAll } from "./derive";
import { type EventBatch, writeBatch, writeBatches } from "./events";
import { keyHash } from "./unit-locks";

/**
 * The writer on both drivers: the same batches into TimescaleDB and into PGlite (the embedded
 * default) must store the same rows and aggregates, and the aggregates must equal what this file
 * computes on its own from the events it sent.
 */

const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
/** Whether this file considers a user agent a bot: the writer must agree. */
const IS_BOT: Record<string, boolean> = { [CHROME]: false, [BOT]: true };

/** mulberry32: the same events on every run. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const uuid = () =>
    "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx".replace(/x/g, () => Math.floor(next() * 16).toString(16));
  return { next, pick, uuid };
}

const rng = random(4004);
const accountA = rng.uuid();
const accountB = rng.uuid();
const funnelA1 = rng.uuid();
const funnelA2 = rng.uuid();
const funnelB = rng.uuid();
const unknownFunnel = rng.uuid();
const steps = [rng.uuid(), rng.uuid(), rng.uuid()];
const visitors = Array.from({ length: 12 }, () => rng.uuid());
const start = Date.UTC(2026, 2, 31, 21, 0, 0); // crosses a day and a month boundary

function makeEvent(funnelId: string): AcceptedEvent {
  const type = rng.pick([
    "page_view",
    "page_view",
    "step_entry",
    "step_exit",
    "conversion",
    "refund",
  ] as const);
  const visitor = rng.pick(visitors);
  const occurredAt = new Date(start + Math.floor(rng.next() * 5 * 3_600_000));
  const withEnrichment = rng.next() < 0.3;
  const ua = rng.next() < 0.1 ? BOT : CHROME;
  return storedEvent({
    event_id: rng.uuid(),
    event_type: type,
    funnel_id: funnelId,
    // A crawler's events have sessions of their own here: a bot event in a human session takes the
    // session out of the rollups only if it is derived no later than the session's other events
    // (bot-sessions.ts), and these batches arrive out of order (derive.test.ts covers bot sessions).
    session_id: `${visitor.slice(0, 8)}-${ua === BOT ? "bot" : rng.pick(["a", "b"])}`,
    visitor_id: visitor,
    occurred_at: occurredAt.toISOString(),
    received_at: new Date(occurredAt.getTime() + 1500).toISOString(),
    page_id: type === "page_view" ? rng.uuid() : null,
    funnel_step_id: type === "step_entry" || type === "step_exit" ? rng.pick(steps) : null,
    previous_step_id: type === "step_entry" && rng.next() < 0.5 ? rng.pick(steps) : null,
    exit_outcome: type === "step_exit" ? rng.pick(["forward", "backward", "bounce", "close"] as const) : null,
    conversion_type:
      type === "conversion" ? rng.pick(["purchase", "signup", "form_submit", "custom"] as const) : null,
    value_cents: type === "conversion" || type === "refund" ? 100 + Math.floor(rng.next() * 10_000) : null,
    order_id: type === "refund" ? `order-${Math.floor(rng.next() * 100)}` : null,
    url: "https://shop.example.com/p?q=1",
    referrer: rng.next() < 0.5 ? "https://www.google.com/" : null,
    utm_source: rng.next() < 0.3 ? "newsletter" : null,
    user_agent: ua,
    ip_address: rng.pick(["203.0.113.77", "2001:db8:85a3:1234::7", "198.51.100.1"]),
    metadata: {
      n: Math.floor(rng.next() * 1000),
      tags: ["x", "ü"],
      nested: { quote: 'a "b" \\ c', ok: true },
      ...(type === "step_exit" && rng.next() < 0.5 ? { reason: rng.pick(["price", "shipping"]) } : {}),
      ...(type === "conversion"
        ? { products: [{ product_id: "p1", product_name: "Mug", quantity: 2, price_cents: 900 }] }
        : {}),
    },
    enrichment: withEnrichment
      ? { device_type: "tablet", browser: "Safari", os: "iPadOS", is_bot: IS_BOT[ua] ?? false, country: "FR" }
      : null,
  });
}

const trackEvents = Array.from({ length: 240 }, () => makeEvent(rng.pick([funnelA1, funnelA2, funnelB])));
const batches: { batch: EventBatch; id: string }[] = [
  {
    id: rng.uuid(),
    batch: {
      source: "track",
      accountId: null,
      accepted: [...trackEvents.slice(0, 120), makeEvent(unknownFunnel), trackEvents[3] as AcceptedEvent],
      rejected: [
        { index: 7, errors: [{ field: "visitor_id", message: "must be a UUID" }], raw: { visitor_id: "x" } },
        { index: 9, errors: [{ field: "body", message: "must be an event object" }], raw: null },
      ],
    },
  },
  {
    id: rng.uuid(),
    batch: {
      source: "track",
      accountId: null,
      // A client retry: 20 events of the first batch again, with a later receive time.
      accepted: [
        ...trackEvents.slice(120),
        ...trackEvents.slice(0, 20).map((e) => ({ ...e, received_at: new Date(start + 9e6).toISOString() })),
      ],
      rejected: [],
    },
  },
  {
    id: rng.uuid(),
    batch: {
      source: "import",
      accountId: accountA,
      // Imports into account A: its own funnel counts, account B's funnel is unknown to it.
      accepted: [makeEvent(funnelA1), makeEvent(funnelA2), makeEvent(funnelB)],
      rejected: [
        { index: 2, errors: [{ field: "timestamp", message: "too old" }], raw: { funnel_id: funnelA1 } },
      ],
    },
  },
];
const receivedAt = new Date(start + 6 * 3_600_000);

async function seedCatalog(handle: DatabaseHandle): Promise<void> {
  await handle.db.insert(accounts).values([
    { id: accountA, name: "A" },
    { id: accountB, name: "B", storeFullIp: true },
  ]);
  await handle.db.insert(funnels).values([
    { id: funnelA1, accountId: accountA, name: "A1" },
    { id: funnelA2, accountId: accountA, name: "A2" },
    { id: funnelB, accountId: accountB, name: "B" },
  ]);
}

async function writeAll(handle: DatabaseHandle): Promise<void> {
  for (const { batch, id } of batches) await writeBatch(handle.db, batch, { batchId: id, receivedAt });
  // A job retried after it committed: nothing may change.
  const [first] = batches;
  if (first) await writeBatch(handle.db, first.batch, { batchId: first.id, receivedAt });
  await deriveAll(handle.db);
}

/** Every stored row as JSON, in a stable order, without columns that depend on when the test ran. */
async function snapshot(handle: DatabaseHandle) {
  const rows = async (query: string) =>
    (await queryRows<{ j: string }>(handle.db, sql.raw(query))).map((r) =>
      typeof r.j === "string" ? JSON.parse(r.j) : r.j,
    );
  return {
    events: await rows(`select row_to_json(t)::text as j from analytics_events t order by event_id`),
    eventIds: await rows(
      `select json_build_object('account_id', account_id, 'event_id', event_id,
        'created_at', case when account_id = '${NO_STEP}' then null else created_at end)::text as j
       from event_ids order by account_id, event_id`,
    ),
    rejected: await rows(
      `select (to_jsonb(t) - 'id')::text as j from rejected_events t order by reason, payload::text, errors::text`,
    ),
    ...(await rollupSnapshot(handle)),
  };
}

type Snapshot = Awaited<ReturnType<typeof snapshot>>;

/** Every rollup table's rows as JSON, in a stable order. */
async function rollupSnapshot(handle: DatabaseHandle) {
  const rows = async (table: string, order: string) =>
    (
      await queryRows<{ j: string }>(
        handle.db,
        sql.raw(`select row_to_json(t)::text as j from ${table} t order by ${order}`),
      )
    ).map((r) => (typeof r.j === "string" ? JSON.parse(r.j) : r.j));
  return {
    counts: await rows(
      "agg_event_counts",
      "funnel_id, bucket, event_type, step_id, conversion_type, exit_outcome",
    ),
    visitors: await rows("agg_session_buckets", "funnel_id, bucket, visitor_id, session_id"),
    stepVisitors: await rows("agg_step_buckets", "funnel_id, step_id, bucket, visitor_id, session_id"),
    funnelVisitors: await rows("agg_funnel_visitors", "funnel_id, visitor_id"),
    stepVisitorSpans: await rows("agg_step_visitors", "funnel_id, step_id, visitor_id"),
    converterSpans: await rows("agg_converters", "funnel_id, visitor_id"),
    dailyProducts: await rows("agg_products_daily", "funnel_id, bucket, product_id"),
    dailyConversions: await rows(
      "agg_conversions_daily",
      "funnel_id, bucket, kind, conversion_type, step_id, source",
    ),
    sessions: await rows("agg_sessions", "funnel_id, session_id, visitor_id"),
    stepEvents: await rows("agg_step_events", "funnel_id, session_id, event_id"),
    stepVisits: await rows("agg_step_visits", "funnel_id, session_id, entry_event_id"),
    conversions: await rows("agg_conversions", "funnel_id, event_id"),
    convertingSessions: await rows("agg_converting_sessions", "funnel_id, session_id, visitor_id"),
    hourlyCounts: await rows(
      "agg_event_counts_hourly",
      "funnel_id, bucket, event_type, step_id, conversion_type, exit_outcome",
    ),
    dailyCounts: await rows(
      "agg_event_counts_daily",
      "funnel_id, bucket, event_type, step_id, conversion_type, exit_outcome",
    ),
    dailyVisitors: await rows("agg_session_buckets_daily", "funnel_id, bucket, visitor_id, session_id"),
    dailyStepVisitors: await rows(
      "agg_step_buckets_daily",
      "funnel_id, step_id, bucket, visitor_id, session_id",
    ),
    dailyStepTimes: await rows("agg_step_times_daily", "funnel_id, step_id, bucket"),
    dailyStepSegments: await rows("agg_step_segments_daily", "funnel_id, step_id, bucket, dimension, value"),
    dailyStepPaths: await rows(
      "agg_step_paths_daily",
      "funnel_id, step_id, bucket, kind, other_step_id, exit_outcome, reason",
    ),
    activeDays: await rows("agg_active_days", "funnel_id, unit, kind, step_id, bucket"),
    dayLinks: await rows("agg_day_links", "funnel_id, kind, step_id, bucket, prev_bucket"),
    stepConverted: await rows("agg_step_converted", "funnel_id, visitor_id, step_id, bucket"),
    stepConvertedDays: await rows(
      "agg_step_converted_days",
      "funnel_id, step_id, bucket, next_bucket, entry_bucket",
    ),
  };
}

/** The aggregates recomputed here from the events sent, without the writer's code. */
function expectedAggregates() {
  const owner: Record<string, string> = { [funnelA1]: accountA, [funnelA2]: accountA, [funnelB]: accountB };
  const seen = new Set<string>();
  const counted: AcceptedEvent[] = [];
  for (const { batch } of batches) {
    for (const e of batch.accepted) {
      const account = owner[e.funnel_id];
      if (!account || (batch.accountId !== null && batch.accountId !== account)) continue;
      if (seen.has(`${account}/${e.event_id}`)) continue;
      seen.add(`${account}/${e.event_id}`);
      const bot = e.enrichment ? e.enrichment.is_bot : (IS_BOT[e.user_agent ?? ""] ?? false);
      if (!bot) counted.push(e);
    }
  }
  const quarter = (iso: string) => new Date(Math.floor(Date.parse(iso) / 900_000) * 900_000).toISOString();
  const counts = new Map<string, { events: number; value_cents: number }>();
  const visitors = new Set<string>();
  const stepVisitors = new Set<string>();
  const firstLast = new Map<string, [number, number]>();
  for (const e of counted) {
    const key = [
      e.funnel_id,
      quarter(e.occurred_at),
      e.event_type,
      e.funnel_step_id ?? NO_STEP,
      e.conversion_type ?? "",
      e.exit_outcome ?? "",
    ].join(" ");
    const c = counts.get(key) ?? { events: 0, value_cents: 0 };
    c.events += 1;
    c.value_cents += e.value_cents ?? 0;
    counts.set(key, c);
    visitors.add([e.funnel_id, quarter(e.occurred_at), e.visitor_id, e.session_id].join(" "));
    if (e.event_type === "step_entry") {
      stepVisitors.add(
        [e.funnel_id, e.funnel_step_id, quarter(e.occurred_at), e.visitor_id, e.session_id].join(" "),
      );
    }
    const t = Date.parse(e.occurred_at);
    const fl = firstLast.get(`${e.funnel_id} ${e.visitor_id}`);
    firstLast.set(`${e.funnel_id} ${e.visitor_id}`, fl ? [Math.min(fl[0], t), Math.max(fl[1], t)] : [t, t]);
  }
  return { events: counted.length, counts, visitors, stepVisitors, firstLast };
}

const iso = (value: string) => new Date(value).toISOString();

let timescale: TestDatabase;
let pglite: DatabaseHandle;
let fromTimescale: Snapshot;
let fromPglite: Snapshot;

beforeAll(async () => {
  timescale = await createTestDatabase();
  pglite = await createTestPglite();
  await pglite.db.execute(sql`set time zone 'UTC'`);
  for (const handle of [timescale.handle, pglite]) {
    await seedCatalog(handle);
    await writeAll(handle);
  }
  fromTimescale = await snapshot(timescale.handle);
  fromPglite = await snapshot(pglite);
});

afterAll(async () => {
  await timescale?.drop();
  await pglite?.close();
});

/**
 * A fresh TimescaleDB database, where large writes go in by COPY, and a fresh PGlite, where every
 * write is an insert, both holding the catalog; dropped after `run`.
 */
async function withFreshStores(run: (copied: DatabaseHandle, inserted: DatabaseHandle) => Promise<void>) {
  const copied = await createTestDatabase();
  const inserted = await createTestPglite();
  try {
    await inserted.db.execute(sql`set time zone 'UTC'`);
    for (const handle of [copied.handle, inserted]) await seedCatalog(handle);
    await run(copied.handle, inserted);
  } finally {
    await copied.drop();
    await inserted.close();
  }
}

describe("writeBatch", () => {
  it("stores the same rows and aggregates on TimescaleDB and on PGlite", () => {
    expect(fromTimescale.events.length).toBeGreaterThan(200);
    expect(fromPglite).toEqual(fromTimescale);
  });

  it("keeps aggregates equal to a count made from the raw events", () => {
    const expected = expectedAggregates();
    const counts = new Map(
      fromTimescale.counts.map((r) => [
        [r.funnel_id, iso(r.bucket), r.event_type, r.step_id, r.conversion_type, r.exit_outcome].join(" "),
        { events: Number(r.events), value_cents: Number(r.value_cents) },
      ]),
    );
    expect(counts).toEqual(expected.counts);
    expect(
      new Set(
        fromTimescale.visitors.map((r) => [r.funnel_id, iso(r.bucket), r.visitor_id, r.session_id].join(" ")),
      ),
    ).toEqual(expected.visitors);
    expect(
      new Set(
        fromTimescale.stepVisitors.map((r) =>
          [r.funnel_id, r.step_id, iso(r.bucket), r.visitor_id, r.session_id].join(" "),
        ),
      ),
    ).toEqual(expected.stepVisitors);
    expect(
      new Map(
        fromTimescale.funnelVisitors.map((r) => [
          `${r.funnel_id} ${r.visitor_id}`,
          [Date.parse(r.first_seen_at), Date.parse(r.last_seen_at)],
        ]),
      ),
    ).toEqual(expected.firstLast);
    const stored = fromTimescale.events.filter((e) => !e.is_bot).length;
    expect(stored).toBe(expected.events);
  });

  it("keeps rollups, batch by batch and out of order, equal to a rebuild from the raw events", async () => {
    // Sessions span batches and arrive shuffled: entries land after the exits and conversions they
    // pair with, which is what the per-session derivation must get right.
    expect(fromTimescale.stepVisits.some((v) => v.exit_at !== null)).toBe(true);
    expect(fromTimescale.stepVisits.some((v) => v.exit_at === null)).toBe(true);
    expect(fromTimescale.conversions.some((c) => c.step_id !== null)).toBe(true);
    expect(fromTimescale.sessions.some((s) => s.referrer_host === "google.com")).toBe(true);
    expect(fromTimescale.dailyConversions.some((d) => d.kind === "conversion" && d.step_id !== NO_STEP)).toBe(
      true,
    );
    expect(
      fromTimescale.conversions.filter((c) => c.kind === "conversion").every((c) => c.source !== null),
    ).toBe(true);
    for (const handle of [timescale.handle, pglite]) {
      const incremental = await rollupSnapshot(handle);
      await rebuildRollups(handle.db);
      expect(await rollupSnapshot(handle)).toEqual(incremental);
    }
  });

  it("stores each event once, truncating IPs unless the account keeps them whole", () => {
    const ids = fromTimescale.events.map((e) => e.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    const ips = (funnel: string) =>
      new Set(fromTimescale.events.filter((e) => e.funnel_id === funnel).map((e) => e.ip_address));
    expect(ips(funnelA1)).toEqual(new Set(["203.0.113.0", "2001:db8:85a3::", "198.51.100.0"]));
    expect(ips(funnelB)).toEqual(new Set(["203.0.113.77", "2001:db8:85a3:1234::7", "198.51.100.1"]));
    for (const e of fromTimescale.events) {
      expect(e.metadata).toMatchObject({ tags: ["x", "ü"], nested: { quote: 'a "b" \\ c', ok: true } });
      expect(e.device_type).not.toBeNull();
    }
  });

  it("keeps refused events with their reason, once, whatever the retries", () => {
    const byReason = (reason: string) => fromTimescale.rejected.filter((r) => r.reason === reason);
    expect(byReason("invalid")).toHaveLength(3);
    expect(byReason("unknown_funnel").map((r) => [r.funnel_id, r.account_id, r.source])).toEqual(
      expect.arrayContaining([
        [unknownFunnel, null, "track"],
        [funnelB, accountA, "import"],
      ]),
    );
    expect(byReason("unknown_funnel")).toHaveLength(2);
    // Kept payloads follow the privacy default too: no account opted in to full IPs for them.
    for (const r of byReason("unknown_funnel")) expect(r.payload.ip_address).toMatch(/(\.0|::)$/);
    const filed = byReason("invalid").find((r) => r.source === "import");
    expect(filed).toMatchObject({ account_id: accountA, funnel_id: funnelA1 });
  });

  it("changes nothing when the same batch is written again", async () => {
    const [, second] = batches;
    if (!second) throw new Error("fixture");
    const result = await writeBatch(timescale.handle.db, second.batch, { batchId: second.id, receivedAt });
    expect(result.inserted).toBe(0);
    expect(await snapshot(timescale.handle)).toEqual(fromTimescale);
  });

  it("stores the same rows when the batches are written together in one transaction", async () => {
    // What a worker does with the jobs it holds at once: each keeps its id and account check, an
    // event in two of them is stored once.
    const merged = await createTestDatabase();
    try {
      await seedCatalog(merged.handle);
      const result = await writeBatches(
        merged.handle.db,
        batches.map(({ batch, id }) => ({ batch, options: { batchId: id, receivedAt } })),
      );
      expect(result.inserted).toBe(fromTimescale.events.length);
      const [first] = batches;
      if (first) await writeBatch(merged.handle.db, first.batch, { batchId: first.id, receivedAt });
      await deriveAll(merged.handle.db);
      expect(await snapshot(merged.handle)).toEqual(fromTimescale);
    } finally {
      await merged.drop();
    }
  });

  it("stores the same rows when lanes of different visitors write side by side", async () => {
    // What the ingest worker's lanes do (api/src/ingest/handler.ts): a visitor's events always in
    // the same lane, each lane one transaction at a time, the lanes at once. They share the rows
    // every write adds to (per day), written last: the result must not depend on who ran first.
    const lanes = await createTestDatabase();
    try {
      await seedCatalog(lanes.handle);
      const laneOf = (e: AcceptedEvent) => (keyHash(`${e.funnel_id}|${e.visitor_id}`) >>> 0) % 3;
      await Promise.all(
        [0, 1, 2].map(async (lane) => {
          for (const { batch, id } of batches) {
            const part = {
              ...batch,
              accepted: batch.accepted.filter((e) => laneOf(e) === lane),
              rejected: lane === 0 ? batch.rejected : [],
            };
            await writeBatch(lanes.handle.db, part, { batchId: id, receivedAt });
          }
        }),
      );
      const [first] = batches;
      if (first) await writeBatch(lanes.handle.db, first.batch, { batchId: first.id, receivedAt });
      // Two derivers at once, in small transactions, take the lanes between them.
      await Promise.all([deriveAll(lanes.handle.db, 50), deriveAll(lanes.handle.db, 50)]);
      expect(await snapshot(lanes.handle)).toEqual(fromTimescale);
    } finally {
      await lanes.drop();
    }
  });

  it("keeps rollups equal to a rebuild when four lanes write a month of generated traffic at once", async () => {
    const lanes = await createTestDatabase();
    try {
      await lanes.handle.db.insert(accounts).values({ id: accountA, name: "A" });
      await lanes.handle.db
        .insert(funnels)
        .values({ id: springSale.id, accountId: accountA, name: "Spring" });
      const to = new Date(start);
      const traffic = generateTraffic({
        funnel: springSale,
        from: new Date(start - 30 * 86_400_000),
        to,
        visitors: 400,
        seed: 23,
      });
      const { accepted } = validateEvents(traffic, {
        context: { receivedAt: to },
        fromBrowser: false,
        newId: randomUUID,
      });
      expect(accepted.length).toBeGreaterThan(2_000);
      const lanesOf = Array.from({ length: 4 }, () => [] as AcceptedEvent[][]);
      for (let i = 0; i < accepted.length; i += 150) {
        const slice = accepted.slice(i, i + 150);
        for (const [lane, list] of lanesOf.entries()) {
          list.push(slice.filter((e) => (keyHash(`${e.funnel_id}|${e.visitor_id}`) >>> 0) % 4 === lane));
        }
      }
      await Promise.all(
        lanesOf.map(async (parts) => {
          for (const part of parts) {
            await writeBatch(
              lanes.handle.db,
              { source: "import", accountId: accountA, accepted: part, rejected: [] },
              { batchId: randomUUID(), receivedAt: to },
            );
          }
        }),
      );
      const stored = await queryRows<{ n: number }>(
        lanes.handle.db,
        sql`select count(*)::int as n from analytics_events`,
      );
      expect(stored[0]?.n).toBe(new Set(accepted.map((e) => e.event_id)).size);
      await Promise.all([deriveAll(lanes.handle.db, 300), deriveAll(lanes.handle.db, 300)]);
      const incremental = await rollupSnapshot(lanes.handle);
      expect(incremental.stepVisits.length).toBeGreaterThan(100);
      expect(incremental.dayLinks.length).toBeGreaterThan(30);
      await rebuildRollups(lanes.handle.db);
      expect(await rollupSnapshot(lanes.handle)).toEqual(incremental);
    } finally {
      await lanes.drop();
    }
  });

  it("stores a large write (COPY on TimescaleDB) as PGlite stores it (inserts)", async () => {
    const large: EventBatch = {
      source: "import",
      accountId: null,
      accepted: Array.from({ length: 1_500 }, () => makeEvent(rng.pick([funnelA1, funnelB]))),
      rejected: [],
    };
    await withFreshStores(async (copied, inserted) => {
      for (const handle of [copied, inserted]) {
        const result = await writeBatch(handle.db, large, {
          batchId: "00000000-0000-4000-8000-000000000001",
          receivedAt,
        });
        expect(result.inserted).toBe(1_500);
        await deriveAll(handle.db);
      }
      const fromCopy = await snapshot(copied);
      expect(fromCopy.events.some((e) => e.metadata?.nested?.quote === 'a "b" \\ c')).toBe(true);
      expect(await snapshot(inserted)).toEqual(fromCopy);
    });
  });

  it("adds only the new events of a write that repeats stored ones, to the events and the rollups", async () => {
    // Staged, then the ones already stored are taken out before the events and rollups are written.
    const events = Array.from({ length: 1_600 }, () => makeEvent(rng.pick([funnelA1, funnelB])));
    const write = (handle: DatabaseHandle, accepted: AcceptedEvent[], n: number) =>
      writeBatch(
        handle.db,
        { source: "import", accountId: null, accepted, rejected: [] },
        { batchId: `00000000-0000-4000-8000-00000000000${n}`, receivedAt },
      );
    await withFreshStores(async (copied, inserted) => {
      for (const handle of [copied, inserted]) {
        expect((await write(handle, events.slice(0, 800), 1)).inserted).toBe(800);
        await deriveAll(handle.db);
        // 1,200 events, 400 of them stored: COPY on TimescaleDB, inserts on PGlite.
        const repeated = await write(handle, events.slice(400), 2);
        expect(repeated).toMatchObject({ inserted: 800, duplicates: 400 });
        await deriveAll(handle.db);
        const [stored] = await queryRows<{ n: number }>(
          handle.db,
          sql`select count(*)::int as n, count(distinct event_id)::int as ids from analytics_events`,
        );
        expect(stored).toMatchObject({ n: 1_600, ids: 1_600 });
        const incremental = await rollupSnapshot(handle);
        await rebuildRollups(handle.db);
        expect(await rollupSnapshot(handle)).toEqual(incremental);
      }
      expect(await snapshot(inserted)).toEqual(await snapshot(copied));
    });
  });

  it("creates a missing monthly partition on native partitioning and retries", async () => {
    const event = { ...makeEvent(funnelA1), occurred_at: "2020-01-01T00:00:00.000Z" };
    const result = await writeBatch(
      pglite.db,
      { source: "import", accountId: null, accepted: [event], rejected: [] },
      {
        batchId: randomUUID(),
      },
    );
    expect(result.inserted).toBe(1);
  });
});
