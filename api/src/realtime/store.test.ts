import { randomUUID } from "node:crypto";
import { testServices } from "@funnel/db/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REALTIME, type RealtimeEvent, type RealtimeStore } from "./store";
import { MemoryRealtimeStore } from "./store-memory";
import { RedisRealtimeStore } from "./store-redis";

const MIN = 60_000;
const NOW = Date.parse("2026-03-10T12:00:00.000Z");
/** The account of every event unless a test says otherwise. */
const ACCOUNT = randomUUID();

let redis: Redis;
const prefix = `test-${randomUUID()}:rt:`;
beforeAll(() => {
  redis = new Redis(testServices().redisUrl);
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

function event(funnelId: string, overrides: Partial<RealtimeEvent>): RealtimeEvent {
  return {
    eventId: randomUUID(),
    accountId: ACCOUNT,
    funnelId,
    eventType: "page_view",
    visitorId: randomUUID(),
    sessionId: `s-${randomUUID()}`,
    stepId: null,
    valueCents: null,
    occurredAt: NOW,
    ...overrides,
  };
}

/** Both implementations, each with a clock the test moves. */
const stores: [string, (clock: () => number) => RealtimeStore][] = [
  ["memory", (clock) => new MemoryRealtimeStore(clock)],
  ["redis", (clock) => new RedisRealtimeStore(redis, prefix, clock)],
];

describe.each(stores)("%s real-time store", (_name, make) => {
  let now = NOW;
  const store = () => make(() => now);

  it("counts active visitors over the last 30 minutes of event time", async () => {
    now = NOW;
    const funnel = randomUUID();
    const s = store();
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await s.record([
      event(funnel, { visitorId: a, occurredAt: NOW - 29 * MIN }),
      event(funnel, { visitorId: a, occurredAt: NOW - 2 * MIN }),
      event(funnel, { visitorId: b, occurredAt: NOW - 31 * MIN }),
      event(funnel, { visitorId: c, occurredAt: NOW - 10 * MIN }),
    ]);
    expect((await s.snapshot(ACCOUNT, funnel, NOW)).activeVisitors).toBe(2);
    // Ten minutes on, c (last seen 10 min before) is still active, a too; at +29 min only a.
    expect((await s.snapshot(ACCOUNT, funnel, NOW + 10 * MIN)).activeVisitors).toBe(2);
    expect((await s.snapshot(ACCOUNT, funnel, NOW + 21 * MIN)).activeVisitors).toBe(1);
  });

  it("never lets a late, older event make a visitor look more recent", async () => {
    now = NOW;
    const funnel = randomUUID();
    const s = store();
    const visitor = randomUUID();
    await s.record([event(funnel, { visitorId: visitor, occurredAt: NOW - 1 * MIN })]);
    // Arrives after, happened before: the visitor's last activity stays at −1 min.
    await s.record([event(funnel, { visitorId: visitor, occurredAt: NOW - 25 * MIN })]);
    expect((await s.snapshot(ACCOUNT, funnel, NOW + 28 * MIN)).activeVisitors).toBe(1);
    // A late event from 2 hours ago neither counts as active nor shows among the newest events
    // once 50 newer ones are there.
    const late = event(funnel, { occurredAt: NOW - 120 * MIN, eventType: "conversion", valueCents: 999 });
    const newer = Array.from({ length: 50 }, (_, i) => event(funnel, { occurredAt: NOW - i * 1000 }));
    await s.record(newer);
    await s.record([late]);
    const snap = await s.snapshot(ACCOUNT, funnel, NOW);
    expect(snap.activeVisitors).toBe(51);
    expect(snap.conversions).toEqual({ count: 0, valueCents: 0 });
    expect(snap.recentEvents).toHaveLength(REALTIME.recentEvents);
    expect(snap.recentEvents.map((e) => e.occurredAt)).toEqual(newer.map((e) => e.occurredAt));
  });

  it("places each active visitor at the step of its latest step_entry in the window", async () => {
    now = NOW;
    const funnel = randomUUID();
    const s = store();
    const [step1, step2] = [randomUUID(), randomUUID()];
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await s.record([
      // a: step1 then step2 (sent out of order) → step2.
      event(funnel, { visitorId: a, eventType: "step_entry", stepId: step2, occurredAt: NOW - 5 * MIN }),
      event(funnel, { visitorId: a, eventType: "step_entry", stepId: step1, occurredAt: NOW - 15 * MIN }),
      // b: step2 long ago, step1 recently → step1.
      event(funnel, { visitorId: b, eventType: "step_entry", stepId: step2, occurredAt: NOW - 20 * MIN }),
      event(funnel, { visitorId: b, eventType: "step_entry", stepId: step1, occurredAt: NOW - 3 * MIN }),
      // c: its only entry is outside the window, its page view inside → active, no step.
      event(funnel, { visitorId: c, eventType: "step_entry", stepId: step1, occurredAt: NOW - 45 * MIN }),
      event(funnel, { visitorId: c, occurredAt: NOW - 1 * MIN }),
    ]);
    const snap = await s.snapshot(ACCOUNT, funnel, NOW);
    expect(snap.activeVisitors).toBe(3);
    expect(snap.activeByStep).toEqual({ [step1]: 1, [step2]: 1 });
    // 16 minutes on (window from −14 min): a's step2 entry (−5) and b's step1 entry (−3) remain.
    expect((await s.snapshot(ACCOUNT, funnel, NOW + 16 * MIN)).activeByStep).toEqual({
      [step1]: 1,
      [step2]: 1,
    });
    // 26 minutes on (window from −4 min): a's latest entry has left it, b's has not.
    expect((await s.snapshot(ACCOUNT, funnel, NOW + 26 * MIN)).activeByStep).toEqual({ [step1]: 1 });
  });

  it("sums conversions of the last 5 minutes by event time", async () => {
    now = NOW;
    const funnel = randomUUID();
    const s = store();
    await s.record([
      event(funnel, { eventType: "conversion", valueCents: 1_000, occurredAt: NOW - 1 * MIN }),
      event(funnel, { eventType: "conversion", valueCents: null, occurredAt: NOW - 4 * MIN }),
      event(funnel, { eventType: "conversion", valueCents: 5_000, occurredAt: NOW - 6 * MIN }),
      event(funnel, { eventType: "page_view", valueCents: 7, occurredAt: NOW }),
    ]);
    expect((await s.snapshot(ACCOUNT, funnel, NOW)).conversions).toEqual({ count: 2, valueCents: 1_000 });
    expect((await s.snapshot(ACCOUNT, funnel, NOW + 2 * MIN)).conversions).toEqual({
      count: 1,
      valueCents: 1_000,
    });
  });

  it("keeps the newest 50 events newest first, and funnels apart", async () => {
    now = NOW;
    const [f1, f2] = [randomUUID(), randomUUID()];
    const s = store();
    const events = Array.from({ length: 70 }, (_, i) =>
      event(f1, { occurredAt: NOW - ((i * 7919) % 70) * 1000 }),
    );
    await s.record(events.slice(0, 30));
    await s.record(events.slice(30));
    await s.record([event(f2, { eventType: "step_entry", stepId: randomUUID() })]);
    const expected = [...events].sort((a, b) => b.occurredAt - a.occurredAt).slice(0, 50);
    const snap = await s.snapshot(ACCOUNT, f1, NOW);
    expect(snap.recentEvents).toEqual(
      expected.map((e) => ({
        eventType: e.eventType,
        stepId: e.stepId,
        sessionId: e.sessionId,
        occurredAt: e.occurredAt,
      })),
    );
    expect((await s.snapshot(ACCOUNT, f2, NOW)).recentEvents).toHaveLength(1);
    expect(await s.snapshot(ACCOUNT, randomUUID(), NOW)).toEqual({
      activeVisitors: 0,
      activeByStep: {},
      recentEvents: [],
      conversions: { count: 0, valueCents: 0 },
    });
  });
});

describe.each(stores)("%s real-time store with two accounts", (_name, make) => {
  it("keeps two accounts' pictures of the same funnel id apart", async () => {
    const funnel = randomUUID();
    const other = randomUUID();
    const s = make(() => NOW);
    const step = randomUUID();
    await s.record([
      event(funnel, { eventType: "step_entry", stepId: step, sessionId: "mine", occurredAt: NOW - MIN }),
      event(funnel, { eventType: "conversion", valueCents: 700, sessionId: "mine", occurredAt: NOW - MIN }),
      event(funnel, { accountId: other, eventType: "page_view", sessionId: "theirs", occurredAt: NOW }),
      event(funnel, { accountId: other, eventType: "conversion", valueCents: 5, occurredAt: NOW }),
    ]);
    const mine = await s.snapshot(ACCOUNT, funnel, NOW);
    expect(mine.activeVisitors).toBe(2);
    expect(mine.activeByStep).toEqual({ [step]: 1 });
    expect(mine.conversions).toEqual({ count: 1, valueCents: 700 });
    expect(new Set(mine.recentEvents.map((e) => e.sessionId))).toEqual(new Set(["mine"]));
    const theirs = await s.snapshot(other, funnel, NOW);
    expect(theirs.activeVisitors).toBe(2);
    expect(theirs.activeByStep).toEqual({});
    expect(theirs.conversions).toEqual({ count: 1, valueCents: 5 });
    expect(theirs.recentEvents.map((e) => e.sessionId)).toContain("theirs");
    expect(theirs.recentEvents.map((e) => e.sessionId)).not.toContain("mine");
    // A third account naming the funnel sees nothing; a rename in one account leaves the other's.
    expect((await s.snapshot(randomUUID(), funnel, NOW)).activeVisitors).toBe(0);
    await s.renameVisitor(other, [funnel], { from: "x", to: "y", sessions: new Map([["mine", "renamed"]]) });
    expect((await s.snapshot(ACCOUNT, funnel, NOW)).recentEvents.map((e) => e.sessionId)).toEqual([
      "mine",
      "mine",
    ]);
  });
});

describe.each(stores)("%s real-time store after a consent withdrawal", (_name, make) => {
  it("renames the visitor and its sessions, keeping every count, and keeps nothing of the old ids", async () => {
    const funnel = randomUUID();
    const s = make(() => NOW);
    const [visitor, other, anonymous] = [randomUUID(), randomUUID(), randomUUID()];
    const [step1, step2] = [randomUUID(), randomUUID()];
    await s.record([
      event(funnel, {
        visitorId: visitor,
        sessionId: "old/session",
        eventType: "step_entry",
        stepId: step1,
        occurredAt: NOW - 6 * MIN,
      }),
      event(funnel, {
        visitorId: visitor,
        sessionId: "old/session",
        eventType: "conversion",
        valueCents: 500,
        occurredAt: NOW - MIN,
      }),
      event(funnel, {
        visitorId: other,
        sessionId: "kept",
        eventType: "step_entry",
        stepId: step2,
        occurredAt: NOW - 2 * MIN,
      }),
    ]);
    const before = await s.snapshot(ACCOUNT, funnel, NOW);
    await s.renameVisitor(ACCOUNT, [funnel, randomUUID()], {
      from: visitor,
      to: anonymous,
      sessions: new Map([["old/session", "new-session"]]),
    });
    const after = await s.snapshot(ACCOUNT, funnel, NOW);
    expect(after).toEqual({
      ...before,
      recentEvents: before.recentEvents.map((e) => ({
        ...e,
        sessionId: e.sessionId === "old/session" ? "new-session" : e.sessionId,
      })),
    });
    expect(after.recentEvents.filter((e) => e.sessionId === "new-session")).toHaveLength(2);
    // The old id is a stranger now: its next event is one more active visitor.
    await s.record([event(funnel, { visitorId: visitor, occurredAt: NOW })]);
    expect((await s.snapshot(ACCOUNT, funnel, NOW)).activeVisitors).toBe(before.activeVisitors + 1);
  });
});

describe("redis real-time store memory", () => {
  it("keeps the expiry of a set whose only member was renamed", async () => {
    const s = new RedisRealtimeStore(redis, prefix, () => NOW);
    const funnel = randomUUID();
    const visitor = randomUUID();
    await s.record([event(funnel, { visitorId: visitor, eventType: "step_entry", stepId: randomUUID() })]);
    await s.renameVisitor(ACCOUNT, [funnel], { from: visitor, to: randomUUID(), sessions: new Map() });
    const base = `${prefix}{${ACCOUNT}:${funnel}}`;
    for (const set of ["visitors", "entries"]) {
      expect(await redis.zcard(`${base}:${set}`)).toBe(1);
      expect(await redis.pttl(`${base}:${set}`)).toBeGreaterThan(30 * MIN);
    }
    expect(await redis.zscore(`${base}:visitors`, visitor)).toBeNull();
  });

  it("trims and expires what left its window", async () => {
    let now = NOW;
    const s = new RedisRealtimeStore(redis, prefix, () => now);
    const funnel = randomUUID();
    await s.record([event(funnel, { occurredAt: NOW - 1 * MIN, eventType: "conversion", valueCents: 5 })]);
    now = NOW + 40 * MIN;
    await s.record([event(funnel, { occurredAt: now })]);
    const base = `${prefix}{${ACCOUNT}:${funnel}}`;
    expect(await redis.zcard(`${base}:visitors`)).toBe(1);
    expect(await redis.zcard(`${base}:conversions`)).toBe(0);
    expect(await redis.pttl(`${base}:visitors`)).toBeGreaterThan(30 * MIN);
    expect(await redis.pttl(`${base}:visitors`)).toBeLessThanOrEqual(31 * MIN);
    expect(await redis.pttl(`${base}:recent`)).toBeGreaterThan(6 * 24 * 60 * MIN);
  });
});
