import { randomUUID } from "node:crypto";
import type { AcceptedEvent } from "@funnel/events";
import { storedEvent, USER_AGENTS } from "@funnel/fixtures";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { type Database, queryRows } from "../client";
import { rebuildRollups } from "../rollups/run";
import { bothEngines, createShop } from "../testing";
import { deriveAll } from "./derive";
import { writeBatch } from "./events";
import { journeyTotals } from "./journey";

/**
 * Session attributes belong to the session (docs/metrics.md): its first event that carried a user
 * agent decides its device and browser, also when that event is derived after the others; a session
 * none of whose events carried one is a human's, with device and browser `unknown`; a session with a
 * bot's event counts nowhere. Each case is derived batch by batch and then compared with a rebuild.
 */

const day = Date.UTC(2026, 4, 12, 9, 0, 0);
const step = randomUUID();

const { engines } = bothEngines();

/** Writes the events and derives them, as one batch of the deriver would. */
async function writeAndDerive(db: Database, accountId: string, events: AcceptedEvent[]): Promise<void> {
  await writeBatch(
    db,
    { source: "import", accountId, accepted: events, rejected: [] },
    { batchId: randomUUID(), receivedAt: new Date(day) },
  );
  await deriveAll(db);
}

function session(funnelId: string) {
  const base = { funnel_id: funnelId, visitor_id: randomUUID(), session_id: `s-${randomUUID()}` };
  const at = (minute: number) => new Date(day + minute * 60_000).toISOString();
  return {
    visitorId: base.visitor_id,
    sessionId: base.session_id,
    entry: (minute: number, agent?: string) =>
      storedEvent({
        ...base,
        event_type: "step_entry",
        funnel_step_id: step,
        occurred_at: at(minute),
        received_at: at(minute),
        user_agent: agent ?? null,
      }),
    pageView: (minute: number, agent?: string) =>
      storedEvent({
        ...base,
        event_type: "page_view",
        occurred_at: at(minute),
        received_at: at(minute),
        user_agent: agent ?? null,
      }),
    purchase: (minute: number) =>
      storedEvent({
        ...base,
        event_type: "conversion",
        conversion_type: "purchase",
        value_cents: 4_200,
        order_id: `o-${randomUUID()}`,
        occurred_at: at(minute),
        received_at: at(minute),
      }),
  };
}

/** The session's device and browser as agg_sessions, its step visits and the daily segments hold them. */
async function attributes(db: Database, accountId: string, sessionId: string) {
  const [s] = await queryRows<{ device_type: string; browser: string }>(
    db,
    sql`select device_type, browser from agg_sessions
      where account_id = ${accountId}::uuid and session_id = ${sessionId}`,
  );
  const visits = await queryRows<{ device_type: string; browser: string }>(
    db,
    sql`select device_type, browser from agg_step_visits
      where account_id = ${accountId}::uuid and session_id = ${sessionId}`,
  );
  const segments = await queryRows<{ dimension: string; value: string; visits: number }>(
    db,
    sql`select dimension, value, visits::int as visits from agg_step_segments_daily
      where account_id = ${accountId}::uuid and dimension in ('device', 'browser') and visits > 0
      order by dimension, value`,
  );
  return { session: s, visits, segments };
}

/** Counted events of the account in the quarter-hour counts. */
async function countedEvents(db: Database, accountId: string): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    db,
    sql`select coalesce(sum(events), 0)::int as n from agg_event_counts where account_id = ${accountId}::uuid`,
  );
  return row?.n ?? -1;
}

/** Every rollup row of the account, per table: what a rebuild must give again. */
async function accountRollups(db: Database, accountId: string): Promise<Record<string, string[]>> {
  const tables = await queryRows<{ name: string }>(
    db,
    sql`select table_name as name from information_schema.columns
      where table_schema = 'public' and table_name like 'agg\\_%' and column_name = 'account_id' order by 1`,
  );
  const snapshot: Record<string, string[]> = {};
  for (const { name } of tables) {
    const rows = await queryRows<{ j: string }>(
      db,
      sql`select row_to_json(t)::text as j from ${sql.identifier(name)} t where account_id = ${accountId}::uuid`,
    );
    snapshot[name] = rows.map((r) => r.j).sort();
  }
  return snapshot;
}

async function expectRebuildEqual(db: Database, accountId: string): Promise<void> {
  const derived = await accountRollups(db, accountId);
  await rebuildRollups(db);
  expect(await accountRollups(db, accountId)).toEqual(derived);
}

describe.each(engines)("session attributes on %s", (_, database) => {
  it("take device and browser from the first event with a user agent, whichever is derived first", async () => {
    const db = database();
    const { accountId, funnelId } = await createShop(db);
    const s = session(funnelId);

    // The server sends the entry: no user agent yet, so nothing is known of the device.
    await writeAndDerive(db, accountId, [s.entry(10)]);
    expect(await attributes(db, accountId, s.sessionId)).toEqual({
      session: { device_type: "unknown", browser: "unknown" },
      visits: [{ device_type: "unknown", browser: "unknown" }],
      segments: [
        { dimension: "browser", value: "unknown", visits: 1 },
        { dimension: "device", value: "unknown", visits: 1 },
      ],
    });

    // The browser's page view comes later: it decides, and the visit and segments follow.
    await writeAndDerive(db, accountId, [s.pageView(11, USER_AGENTS.safariIphone)]);
    expect(await attributes(db, accountId, s.sessionId)).toEqual({
      session: { device_type: "mobile", browser: "Safari" },
      visits: [{ device_type: "mobile", browser: "Safari" }],
      segments: [
        { dimension: "browser", value: "Safari", visits: 1 },
        { dimension: "device", value: "mobile", visits: 1 },
      ],
    });

    // An earlier event with another user agent, derived last, is the first that carried one.
    await writeAndDerive(db, accountId, [s.pageView(9, USER_AGENTS.chromeWindows), s.pageView(12)]);
    expect((await attributes(db, accountId, s.sessionId)).session).toEqual({
      device_type: "desktop",
      browser: "Chrome",
    });
    await expectRebuildEqual(db, accountId);
  });

  it("count a session none of whose events carried a user agent, as a human's of unknown device", async () => {
    const db = database();
    const { accountId, funnelId } = await createShop(db);
    const s = session(funnelId);
    await writeAndDerive(db, accountId, [s.entry(0), s.purchase(1)]);
    expect(await countedEvents(db, accountId)).toBe(2);
    expect((await attributes(db, accountId, s.sessionId)).session).toEqual({
      device_type: "unknown",
      browser: "unknown",
    });
    const [purchase] = await queryRows<{ value_cents: number }>(
      db,
      sql`select value_cents from agg_conversions where account_id = ${accountId}::uuid`,
    );
    expect(purchase?.value_cents).toBe(4_200);
    await expectRebuildEqual(db, accountId);
  });

  it("leave out a whole session with a bot's event, derived with or before its other events", async () => {
    const db = database();
    const { accountId, funnelId } = await createShop(db);
    const human = session(funnelId);
    const together = session(funnelId);
    const botFirst = session(funnelId);

    // One batch: a human-looking entry and purchase, and a crawler's page view in the same session.
    await writeAndDerive(db, accountId, [
      human.entry(0, USER_AGENTS.chromeWindows),
      together.entry(0, USER_AGENTS.chromeWindows),
      together.purchase(1),
      together.pageView(2, USER_AGENTS.googlebot),
    ]);
    // The crawler first; the session's human-looking events in a later batch.
    await writeAndDerive(db, accountId, [botFirst.pageView(0, USER_AGENTS.bingbot)]);
    await writeAndDerive(db, accountId, [botFirst.entry(1, USER_AGENTS.safariMac), botFirst.purchase(2)]);

    // Only the human session counts: one entry, in the counts, the sessions and the visits.
    expect(await countedEvents(db, accountId)).toBe(1);
    const sessions = await queryRows<{ session_id: string }>(
      db,
      sql`select session_id from agg_sessions where account_id = ${accountId}::uuid`,
    );
    expect(sessions.map((r) => r.session_id)).toEqual([human.sessionId]);
    const conversions = await queryRows<{ n: number }>(
      db,
      sql`select count(*)::int as n from agg_conversions where account_id = ${accountId}::uuid`,
    );
    expect(conversions[0]?.n).toBe(0);
    // Nor do the raw reads (here the visitor's journey) count them.
    expect(await journeyTotals(db, { accountId, visitorId: together.visitorId })).toBeNull();
    expect(await journeyTotals(db, { accountId, visitorId: botFirst.visitorId })).toBeNull();
    expect(await journeyTotals(db, { accountId, visitorId: human.visitorId })).not.toBeNull();
    await expectRebuildEqual(db, accountId);
  });
});
