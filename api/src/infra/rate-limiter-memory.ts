import type { RateLimiter } from "../ports";

export interface MemoryRateLimiterOptions {
  eventsPerSecond: number;
  now?: () => number;
}

/**
 * The embedded default's limiter: the same GCRA as rate-limiter-redis.ts (one theoretical arrival
 * time per key, burst of one second's worth of events), kept in a Map of one process.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly arrivals = new Map<string, number>();
  private readonly interval: number;
  private readonly tolerance = 1000;
  private lastSweep = 0;

  constructor(private readonly options: MemoryRateLimiterOptions) {
    this.interval = 1000 / options.eventsPerSecond;
  }

  async take(key: string, cost: number): Promise<{ allowed: boolean; retryAfterSeconds: number }> {
    const now = this.options.now?.() ?? Date.now();
    this.sweep(now);
    const tat = Math.max(this.arrivals.get(key) ?? now, now);
    const newTat = tat + cost * this.interval;
    const allowAt = newTat - this.tolerance;
    if (allowAt > now) {
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((allowAt - now) / 1000)) };
    }
    this.arrivals.set(key, newTat);
    return { allowed: true, retryAfterSeconds: 0 };
  }

  /** Drops buckets that are full again, so the map holds only recently active keys. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 10_000) return;
    this.lastSweep = now;
    for (const [key, tat] of this.arrivals) if (tat <= now) this.arrivals.delete(key);
  }
}
