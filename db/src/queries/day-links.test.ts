import { createHash, randomUUID } from "node:crypto";
import type { AcceptedEvent } from "@funnel/events";
import { Random, storedEvent } from "@funnel/fixtures";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DatabaseHandle, queryRows } from "../client";
import { rebuildRollups } from "../rollups/run";
import { accounts, funnels } from "../schema";
import { createTestDatabase, createTestPglite, type TestDatabase } from "../testing";
import { deriveAll } from "./derive";
import { writeBatch } from "./events";
import { convertingVisitors } from "./reports";

/**
 * Days seen and their links (day-links.ts) of visitors, sessions, step visitors and converters, and
 * the step visitors' conversion days, under what can break them: days of one visitor arriving in any
 * order, a day landing between two known ones, batches of one visitor written at the same time by
 * concurrent writers. All must equal a rebuild from the stored events, and distinct units summed
 * from the links over any range of days must equal a count made here from the events sent.
 */

const DAY_MS = 86_400_000;
const FIRST_DAY = Date.UTC(2026, 4, 1);
const DAYS = 40;

const rng = new Random(1212);
const accountId = randomUUID();
const funnelId = randomUUID();
const steps = [randomUUID(), randomUUID()];
// Upper-case ids: the database writes uuids in lower case, and both must name the same unit.
const visitors = Array.from({ length: 30 }, (_, i) =>
  i % 3 === 0 ? randomUUID().toUpperCase() : randomUUID(),
);

function event(): AcceptedEvent {
  const visitor = rng.pick(visitors);
  const at = new Date(FIRST_DAY + Math.floor(rng.next() * DAYS * DAY_MS));
  const roll = rng.next();
  const entry = roll < 0.4;
  const conversion = roll > 0.85;
  return storedEvent({
    event_type: entry ? "step_entry" : conversion ? "conversion" : "page_view",
    funnel_id: funnelId,
    // Some sessions go on over several days.
    session_id: `${visitor.slice(0, 6)}-${Math.floor(rng.next() * 4)}`,
    visitor_id: visitor,
    occurred_at: at.toISOString(),
    received_at: at.toISOString(),
    funnel_step_id: entry ? rng.pick(steps) : null,
    conversion_type: conversion ? "purchase" : null,
    value_cents: conversion ? 1_000 : null,
    url: "https://shop.example.com/",
    // Some events carry a referrer: a session's source is its earliest one's, so a late event
    // moves the session's step visits to another segment.
    referrer: rng.pick([null, null, null, "https://www.google.com/search", "https://bing.com/"]),
    user_agent:
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    ip_address: "203.0.113.1",
  });
}

// Shuffled: a visitor's days arrive in any order, so later batches put days between known ones.
const events = Array.from({ length: 1_500 }, event);
const batches: AcceptedEvent[][] = [];
for (let i = 0; i < events.length; i += 50) batches.push(events.slice(i, i + 50));

async function writeConcurrently(handle: DatabaseHandle, writers: number): Promise<void> {
  const queue = [...batches];
  const writer = async () => {
    for (let batch = queue.shift(); batch; batch = queue.shift()) {
      await writeBatch(
        handle.db,
        { source: "import", accountId, accepted: batch, rejected: [] },
        { batchId: randomUUID() },
      );
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  // As many derivers as writers, taking the lanes between them.
  await Promise.all(Array.from({ length: writers }, () => deriveAll(handle.db, 50)));
}

async function links(handle: DatabaseHandle) {
  const rows = await queryRows<{ j: string }>(
    handle.db,
    sql`select row_to_json(x)::text as j from (
        select 'day' as what, funnel_id::text, kind, step_id::text, bucket::text, unit as other, null::bigint as units
        from agg_active_days
        union all
        select 'link', funnel_id::text, kind, step_id::text, bucket::text, prev_bucket::text, units from agg_day_links
        union all
        select 'converted', funnel_id::text, 0, step_id::text, bucket::text,
          next_bucket::text || ' ' || entry_bucket::text, visitors from agg_step_converted_days
      ) x order by what, funnel_id, kind, step_id, bucket, other`,
  );
  return rows.map((r) => (typeof r.j === "string" ? JSON.parse(r.j) : r.j));
}

/** Distinct units over the days [from, to) as the links give them. */
async function unitsOver(handle: DatabaseHandle, kind: number, stepId: string, from: number, to: number) {
  const [row] = await queryRows<{ n: string | null }>(
    handle.db,
    sql`select sum(units)::text as n from agg_day_links
      where funnel_id = ${funnelId}::uuid and kind = ${kind} and step_id = ${stepId}::uuid
        and bucket >= ${new Date(from).toISOString()}::timestamptz and bucket < ${new Date(to).toISOString()}::timestamptz
        and prev_bucket < ${new Date(from).toISOString()}::timestamptz`,
  );
  return Number(row?.n ?? 0);
}

/**
 * The step a conversion belongs to, worked out here from the events sent: its session's latest
 * step entry at or before it (the later event id on a tie), none without one.
 */
function stepOf(conversion: AcceptedEvent): string | null {
  const at = Date.parse(conversion.occurred_at);
  let best: AcceptedEvent | undefined;
  for (const e of events) {
    if (e.event_type !== "step_entry" || e.session_id !== conversion.session_id) continue;
    const t = Date.parse(e.occurred_at);
    if (t > at) continue;
    const bt = best ? Date.parse(best.occurred_at) : Number.NEGATIVE_INFINITY;
    if (!best || t > bt || (t === bt && e.event_id > best.event_id)) best = e;
  }
  return best?.funnel_step_id ?? null;
}

/** A session's traffic source as the writer keeps it: its earliest event with a referrer's host, else direct. */
function sourceOf(sessionId: string): string {
  let best: AcceptedEvent | undefined;
  for (const e of events) {
    if (e.session_id !== sessionId || !e.referrer) continue;
    const t = Date.parse(e.occurred_at);
    const bt = best ? Date.parse(best.occurred_at) : Number.POSITIVE_INFINITY;
    if (!best || t < bt || (t === bt && e.event_id < best.event_id)) best = e;
  }
  return best?.referrer ? new URL(best.referrer).hostname.replace(/^www\./, "") : "direct";
}

/** The step_id of the step's visitors from a source (segmentKey in day-links.ts). */
function segmentKeyOf(stepId: string, source: string): string {
  const hex = createHash("md5").update(`${stepId}|source|${source}`).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The same, counted from the events this file sent. */
function expectedUnits(kind: number, stepId: string, from: number, to: number): number {
  const units = new Set<string>();
  for (const e of events) {
    const at = Date.parse(e.occurred_at);
    if (at < from || at >= to) continue;
    if (kind === 0) units.add(e.visitor_id.toLowerCase());
    if (kind === 1) units.add(e.session_id);
    if (kind === 2 && e.event_type === "step_entry" && e.funnel_step_id === stepId) {
      units.add(e.visitor_id.toLowerCase());
    }
    if (kind === 3 && e.event_type === "conversion") units.add(e.visitor_id.toLowerCase());
    if (kind === 5 && e.event_type === "conversion" && e.conversion_type === "purchase") {
      units.add(e.visitor_id.toLowerCase());
    }
    if (kind === 8 && e.event_type === "conversion" && stepOf(e) === stepId)
      units.add(e.visitor_id.toLowerCase());
    if (kind === 9 && e.event_type === "step_entry" && e.funnel_step_id) {
      if (segmentKeyOf(e.funnel_step_id, sourceOf(e.session_id)) === stepId)
        units.add(e.visitor_id.toLowerCase());
    }
  }
  return units.size;
}

const NO_STEP = "00000000-0000-0000-0000-000000000000";

let timescale: TestDatabase;
let pglite: DatabaseHandle;

beforeAll(async () => {
  timescale = await createTestDatabase();
  pglite = await createTestPglite();
  await pglite.db.execute(sql`set time zone 'UTC'`);
  for (const handle of [timescale.handle, pglite]) {
    await handle.db.insert(accounts).values({ id: accountId, name: "links" });
    await handle.db.insert(funnels).values({ id: funnelId, accountId, name: "links" });
  }
  await writeConcurrently(timescale.handle, 3);
  await writeConcurrently(pglite, 1);
});

afterAll(async () => {
  await timescale?.drop();
  await pglite?.close();
});

describe("day links", () => {
  it("equal a rebuild from the stored events, written by concurrent writers or by one", async () => {
    const incremental = await links(timescale.handle);
    expect(incremental.filter((r) => r.what !== "day").every((r) => Number(r.units) > 0)).toBe(true);
    expect(incremental.filter((r) => r.what === "converted").length).toBeGreaterThan(0);
    expect(await links(pglite)).toEqual(incremental);
    await rebuildRollups(timescale.handle.db);
    expect(await links(timescale.handle)).toEqual(incremental);
  });

  it("give the distinct visitors, sessions and step visitors of any range of days", async () => {
    const ranges: [number, number][] = [[0, DAYS]];
    for (let i = 0; i < 25; i++) {
      const a = Math.floor(rng.next() * DAYS);
      const b = a + 1 + Math.floor(rng.next() * (DAYS - a));
      ranges.push([a, b]);
    }
    for (const [a, b] of ranges) {
      const from = FIRST_DAY + a * DAY_MS;
      const to = FIRST_DAY + b * DAY_MS;
      for (const [kind, stepId] of [
        [0, NO_STEP],
        [1, NO_STEP],
        [2, steps[0]],
        [2, steps[1]],
        [3, NO_STEP],
        [5, NO_STEP],
        [8, steps[0]],
        [8, steps[1]],
        ...["google.com", "bing.com", "direct"].map((source) => [9, segmentKeyOf(steps[0] ?? "", source)]),
      ] as [number, string][]) {
        const expected = expectedUnits(kind, stepId, from, to);
        expect(await unitsOver(timescale.handle, kind, stepId, from, to), `kind ${kind} days ${a}-${b}`).toBe(
          expected,
        );
      }
    }
    // The ranges are not all trivially full: some visitors are seen in one but not in others.
    expect(expectedUnits(0, NO_STEP, FIRST_DAY, FIRST_DAY + DAY_MS)).toBeLessThan(visitors.length);
  });

  it("give every converting session of any period, whole or cut by its bounds, as the events do", async () => {
    // Bounds anywhere in a day: sessions go on over several days, so many cross them.
    const periods: [number, number][] = [[FIRST_DAY, FIRST_DAY + DAYS * DAY_MS]];
    for (let i = 0; i < 12; i++) {
      const a = FIRST_DAY + Math.floor(rng.next() * DAYS * DAY_MS);
      periods.push([a, a + 1 + Math.floor(rng.next() * (FIRST_DAY + DAYS * DAY_MS - a))]);
    }
    let crossing = 0;
    for (const [from, to] of periods) {
      const groups = new Map<string, { n: number; value: number; first: number; last: number }>();
      const whole = new Map<string, [number, number]>();
      for (const e of events) {
        if (e.event_type !== "conversion") continue;
        const at = Date.parse(e.occurred_at);
        const key = `${e.visitor_id.toLowerCase()} ${e.session_id}`;
        const span = whole.get(key);
        whole.set(key, span ? [Math.min(span[0], at), Math.max(span[1], at)] : [at, at]);
        if (at < from || at >= to) continue;
        const g = groups.get(key) ?? { n: 0, value: 0, first: at, last: at };
        g.n += 1;
        g.value += e.value_cents ?? 0;
        g.first = Math.min(g.first, at);
        g.last = Math.max(g.last, at);
        groups.set(key, g);
      }
      crossing += [...groups.keys()].filter((k) => {
        const span = whole.get(k);
        return span !== undefined && (span[0] < from || span[1] >= to);
      }).length;
      const expected = [...groups.entries()]
        .sort(([ka, a], [kb, b]) => b.last - a.last || (ka < kb ? -1 : 1))
        .map(([key, g]) => ({ key, ...g }));
      for (const handle of [timescale.handle, pglite]) {
        const scope = { accountId, funnelId, start: new Date(from), end: new Date(to) };
        const got: typeof expected = [];
        for (let offset = 0; ; offset += 7) {
          const page = await convertingVisitors(handle.db, scope, { offset, limit: 7 });
          expect(page.total).toBe(expected.length);
          for (const r of page.rows) {
            got.push({
              key: `${r.visitorId} ${r.sessionId}`,
              n: r.conversions,
              value: r.valueCents,
              first: r.first.getTime(),
              last: r.last.getTime(),
            });
          }
          if (page.rows.length < 7) break;
        }
        expect(got).toEqual(expected);
      }
    }
    expect(crossing, "sessions cut by a period's bounds").toBeGreaterThan(10);
  });
});
