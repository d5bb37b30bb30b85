import { describe, expect, it } from "vitest";
import { InvalidError, LimitExceededError, UnavailableError } from "../src/errors";
import { type ForwardMessage, MESSAGE_BYTES, packMessages, sendGroups } from "../src/forward/messages";
import { acceptTrack, type TrackDeps } from "../src/track/accept";
import { pageView } from "./support";

const request = { ip: "192.0.2.10", userAgent: "Mozilla/5.0", country: "FR", receivedAt: new Date() };

function deps(overrides: Partial<TrackDeps> = {}): TrackDeps & { queued: ForwardMessage[]; costs: number[] } {
  const queued: ForwardMessage[] = [];
  const costs: number[] = [];
  return {
    queued,
    costs,
    eventsPerSecond: 100,
    take: async (_subject, cost) => {
      costs.push(cost);
      return { allowed: true, retryAfterSeconds: 0 };
    },
    enqueue: async (messages) => {
      queued.push(...messages);
    },
    newId: () => crypto.randomUUID(),
    ...overrides,
  };
}

describe("acceptTrack", () => {
  it("charges the limit with the number of events, before validating them", async () => {
    const d = deps();
    await acceptTrack(d, { events: [pageView(), { nope: true }, pageView()] }, request);
    expect(d.costs).toEqual([3]);
    expect(d.queued[0]?.events).toHaveLength(2);
    expect(d.queued[0]?.rejected.map((r) => r.index)).toEqual([1]);
  });

  it("is a LimitExceededError with Retry-After when the budget is spent, and queues nothing", async () => {
    const d = deps({ take: async () => ({ allowed: false, retryAfterSeconds: 2 }) });
    const error = await acceptTrack(d, pageView(), request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LimitExceededError);
    expect((error as LimitExceededError).retryAfterSeconds).toBe(2);
    expect(d.queued).toEqual([]);
  });

  it("is UnavailableError (503) when the queue does not take the events", async () => {
    const d = deps({
      enqueue: async () => {
        throw new Error("queue down");
      },
    });
    await expect(acceptTrack(d, pageView(), request)).rejects.toBeInstanceOf(UnavailableError);
  });

  it("still queues refused events for operators when none is valid, then answers 400", async () => {
    const d = deps();
    await expect(acceptTrack(d, { events: [{ event_type: "nope" }] }, request)).rejects.toBeInstanceOf(
      InvalidError,
    );
    expect(d.queued[0]?.rejected).toHaveLength(1);
  });
});

describe("packMessages", () => {
  it("splits a large request into messages under the Queues size limit", () => {
    const big = () => ({ ...pageView(), metadata: { blob: "x".repeat(8_000) } });
    const [first] = packMessages({ events: [], rejected: [] });
    expect(first).toBeUndefined();
    const events = Array.from({ length: 30 }, big) as unknown as ForwardMessage["events"];
    const messages = packMessages({ events, rejected: [] });
    expect(messages.length).toBeGreaterThan(1);
    expect(messages.flatMap((m) => m.events)).toHaveLength(30);
    for (const m of messages)
      expect(new TextEncoder().encode(JSON.stringify(m)).byteLength).toBeLessThan(MESSAGE_BYTES + 1024);
    for (const group of sendGroups(messages)) expect(group.length).toBeLessThanOrEqual(100);
  });

  it("drops the raw body of a refused event too big to keep, not the refusal", () => {
    const [message] = packMessages({
      events: [],
      rejected: [{ index: 0, errors: [{ field: "body", message: "x" }], raw: "y".repeat(MESSAGE_BYTES) }],
    });
    expect(message?.rejected[0]).toMatchObject({ index: 0, raw: { dropped: "too large to keep" } });
  });
});
