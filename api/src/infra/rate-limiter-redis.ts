import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { RateLimiter } from "../ports";

/**
 * GCRA (generic cell rate algorithm) in one Lua script, so the read-modify-write is atomic across
 * API processes. Per key Redis keeps one number, the theoretical arrival time (TAT, in ms): each
 * event moves it one emission interval (1000 / rate ms) ahead. A request may pass when its cost fits
 * under the burst tolerance (one second's worth of events); it then expires when the bucket is full
 * again. Equivalent to a token bucket of `rate` tokens refilled continuously.
 *
 * KEYS[1] bucket key; ARGV: emission interval ms, burst tolerance ms, cost, now ms (0: Redis TIME).
 * Returns { allowed (0|1), retry after ms }.
 */
const GCRA_SCRIPT = `
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == 0 then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local tat = tonumber(redis.call("GET", KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - tolerance
if allow_at > now then
  return { 0, math.ceil(allow_at - now) }
end
redis.call("SET", KEYS[1], new_tat, "PX", math.max(1, math.ceil(new_tat - now)))
return { 1, 0 }
`;

const GCRA_SHA = createHash("sha1").update(GCRA_SCRIPT).digest("hex");

export interface RedisRateLimiterOptions {
  /** Key prefix (QUEUE_PREFIX), so deployments sharing a Redis do not share buckets. */
  prefix: string;
  eventsPerSecond: number;
  /** Tests pin the clock; production uses Redis TIME so API hosts agree on it. */
  now?: () => number;
}

export class RedisRateLimiter implements RateLimiter {
  private readonly interval: number;
  private readonly tolerance: number;

  constructor(
    private readonly redis: Redis,
    private readonly options: RedisRateLimiterOptions,
  ) {
    this.interval = 1000 / options.eventsPerSecond;
    this.tolerance = 1000;
  }

  async take(key: string, cost: number): Promise<{ allowed: boolean; retryAfterSeconds: number }> {
    const now = this.options.now?.() ?? 0;
    const args = [`${this.options.prefix}:ratelimit:${key}`, this.interval, this.tolerance, cost, now];
    const [allowed, retryAfterMs] = (await this.redis
      .evalsha(GCRA_SHA, 1, ...args)
      .catch((error: unknown) => {
        // After a Redis restart or SCRIPT FLUSH the script is loaded again by sending it whole.
        if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
          return this.redis.eval(GCRA_SCRIPT, 1, ...args);
        }
        throw error;
      })) as [number, number];
    return {
      allowed: allowed === 1,
      retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(retryAfterMs / 1000)),
    };
  }
}
