import { DurableObject } from "cloudflare:workers";

export interface TakeResult {
  allowed: boolean;
  retryAfterSeconds: number;
}

/**
 * The event budget of ONE client address: a Durable Object per IP (IPv6: per /64), so one
 * address's flood queues only on its own object and never slows or throttles another's.
 *
 * GCRA, as the API's limiters (api/src/infra/rate-limiter-*.ts): one theoretical arrival time,
 * each event costs 1/rate seconds, a burst of one second's worth is allowed. The state lives in
 * memory only: if the object is evicted the address starts with a full budget, which errs on the
 * side of accepting traffic, and costs no storage write per request.
 */
export class IpRateLimiter extends DurableObject {
  private tat = 0;

  take(cost: number, eventsPerSecond: number, now: number = Date.now()): TakeResult {
    const interval = 1000 / eventsPerSecond;
    const tolerance = 1000;
    const tat = Math.max(this.tat, now);
    const newTat = tat + cost * interval;
    const allowAt = newTat - tolerance;
    if (allowAt > now) {
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((allowAt - now) / 1000)) };
    }
    this.tat = newTat;
    return { allowed: true, retryAfterSeconds: 0 };
  }
}
