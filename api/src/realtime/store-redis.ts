import type { Redis } from "ioredis";
import {
  latestStepPerVisitor,
  REALTIME,
  type RealtimeEvent,
  type RealtimeSnapshot,
  type RealtimeStore,
  type RecentEvent,
} from "./store";

/**
 * The real-time store in Redis: four sorted sets per funnel, scored by event time (ms) and
 * trimmed to their windows at every write, so memory stays bounded by the traffic of the last
 * 30 minutes plus 50 events per funnel.
 *   <prefix>{funnel}:visitors     visitor id          → its latest event time (ZADD GT)
 *   <prefix>{funnel}:entries      "visitor step"      → its latest step_entry time there (ZADD GT)
 *   <prefix>{funnel}:recent       event as JSON       → event time, the 50 highest kept
 *   <prefix>{funnel}:conversions  "event id value"    → event time
 * One pipeline per ingest batch, one per snapshot.
 */
export class RedisRealtimeStore implements RealtimeStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly clock: () => number = Date.now,
  ) {}

  async record(events: RealtimeEvent[]): Promise<void> {
    if (events.length === 0) return;
    const now = this.clock();
    const activeFrom = now - REALTIME.activeWindowMs;
    const conversionsFrom = now - REALTIME.conversionWindowMs;
    const pipeline = this.redis.pipeline();
    for (const [funnelId, funnelEvents] of groupBy(events, (e) => e.funnelId)) {
      const key = this.keys(funnelId);
      const visitors = new Map<string, number>();
      const entries = new Map<string, number>();
      const recent: (string | number)[] = [];
      const conversions: (string | number)[] = [];
      for (const e of funnelEvents) {
        recent.push(e.occurredAt, encodeRecent(e));
        // Late events older than a window never enter it, so they never show as current.
        if (e.occurredAt >= activeFrom) {
          visitors.set(e.visitorId, Math.max(visitors.get(e.visitorId) ?? 0, e.occurredAt));
          if (e.eventType === "step_entry" && e.stepId) {
            const member = `${e.visitorId} ${e.stepId}`;
            entries.set(member, Math.max(entries.get(member) ?? 0, e.occurredAt));
          }
        }
        if (e.eventType === "conversion" && e.occurredAt >= conversionsFrom) {
          conversions.push(e.occurredAt, `${e.eventId} ${e.valueCents ?? 0}`);
        }
      }
      const keepActive = REALTIME.activeWindowMs + 60_000;
      if (visitors.size > 0) {
        pipeline.zadd(key.visitors, "GT", ...flatten(visitors));
        pipeline.pexpire(key.visitors, keepActive);
      }
      pipeline.zremrangebyscore(key.visitors, "-inf", `(${activeFrom}`);
      if (entries.size > 0) {
        pipeline.zadd(key.entries, "GT", ...flatten(entries));
        pipeline.pexpire(key.entries, keepActive);
      }
      pipeline.zremrangebyscore(key.entries, "-inf", `(${activeFrom}`);
      pipeline.zadd(key.recent, ...recent);
      pipeline.zremrangebyrank(key.recent, 0, -(REALTIME.recentEvents + 1));
      pipeline.pexpire(key.recent, REALTIME.recentEventsTtlMs);
      if (conversions.length > 0) {
        pipeline.zadd(key.conversions, ...conversions);
        pipeline.pexpire(key.conversions, REALTIME.conversionWindowMs + 60_000);
      }
      pipeline.zremrangebyscore(key.conversions, "-inf", `(${conversionsFrom}`);
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed?.[0]) throw failed[0];
  }

  async snapshot(funnelId: string, now: number): Promise<RealtimeSnapshot> {
    const key = this.keys(funnelId);
    const activeFrom = now - REALTIME.activeWindowMs;
    const results =
      (await this.redis
        .pipeline()
        .zcount(key.visitors, activeFrom, "+inf")
        .zrangebyscore(key.entries, activeFrom, "+inf", "WITHSCORES")
        .zrevrange(key.recent, 0, REALTIME.recentEvents - 1)
        .zrangebyscore(key.conversions, now - REALTIME.conversionWindowMs, "+inf")
        .exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed?.[0]) throw failed[0];
    const [active, entries, recent, conversions] = results.map(([, value]) => value);

    const entryList: [string, string, number][] = [];
    const flat = (entries as string[] | undefined) ?? [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const [visitorId = "", stepId = ""] = (flat[i] ?? "").split(" ");
      entryList.push([visitorId, stepId, Number(flat[i + 1])]);
    }
    let valueCents = 0;
    const conversionMembers = (conversions as string[] | undefined) ?? [];
    for (const member of conversionMembers) valueCents += Number(member.split(" ")[1] ?? 0);
    return {
      activeVisitors: Number(active ?? 0),
      activeByStep: latestStepPerVisitor(entryList),
      recentEvents: ((recent as string[] | undefined) ?? []).map(decodeRecent),
      conversions: { count: conversionMembers.length, valueCents },
    };
  }

  private keys(funnelId: string) {
    // The braces make a Redis Cluster keep a funnel's keys on one node (one pipeline).
    const base = `${this.prefix}{${funnelId}}`;
    return {
      visitors: `${base}:visitors`,
      entries: `${base}:entries`,
      recent: `${base}:recent`,
      conversions: `${base}:conversions`,
    };
  }
}

/** The event id keeps two events with equal fields distinct members. */
function encodeRecent(e: RealtimeEvent): string {
  return JSON.stringify([e.eventId, e.eventType, e.stepId, e.sessionId, e.occurredAt]);
}

function decodeRecent(member: string): RecentEvent {
  const [, eventType, stepId, sessionId, occurredAt] = JSON.parse(member) as [
    string,
    string,
    string | null,
    string,
    number,
  ];
  return { eventType, stepId, sessionId, occurredAt };
}

function flatten(scores: Map<string, number>): (string | number)[] {
  const args: (string | number)[] = [];
  for (const [member, score] of scores) args.push(score, member);
  return args;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
