import { randomUUID } from "node:crypto";
import { testServices } from "@funnel/db/testing";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type { RateLimiter } from "../ports";
import { MemoryRateLimiter } from "./rate-limiter-memory";
import { RedisRateLimiter } from "./rate-limiter-redis";

const redis = new Redis(testServices().redisUrl);
const prefix = `test-${randomUUID()}`;

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const limiters: [string, (now: () => number) => RateLimiter][] = [
  ["redis", (now) => new RedisRateLimiter(redis, { prefix, eventsPerSecond: 100, now })],
  ["memory", (now) => new MemoryRateLimiter({ eventsPerSecond: 100, now })],
];

describe.each(limiters)("%s rate limiter (GCRA, 100 events/s)", (_name, make) => {
  it("lets 100 events through in a second, refuses the 101st, and tells when to retry", async () => {
    let t = 1_770_000_000_000;
    const limiter = make(() => t);
    const key = randomUUID();
    expect(await limiter.take(key, 60)).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(await limiter.take(key, 40)).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(await limiter.take(key, 1)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    // Another key has its own budget.
    expect((await limiter.take(randomUUID(), 100)).allowed).toBe(true);
    // A refused request costs nothing; the budget refills continuously (10 ms per event).
    t += 10;
    expect((await limiter.take(key, 1)).allowed).toBe(true);
    expect((await limiter.take(key, 1)).allowed).toBe(false);
    t += 1000;
    expect((await limiter.take(key, 100)).allowed).toBe(true);
  });

  it("never lets a request costing more than the burst through", async () => {
    const limiter = make(() => 1_770_000_000_000);
    expect((await limiter.take(randomUUID(), 101)).allowed).toBe(false);
  });
});

describe("redis rate limiter on the Redis clock", () => {
  it("refuses events beyond the budget sent back to back", async () => {
    const limiter = new RedisRateLimiter(redis, { prefix, eventsPerSecond: 100 });
    const key = randomUUID();
    expect((await limiter.take(key, 100)).allowed).toBe(true);
    const refused = await limiter.take(key, 50);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterSeconds).toBe(1);
    expect(await redis.pttl(`${prefix}:ratelimit:${key}`)).toBeGreaterThan(0);
  });
});
