import type { Redis } from "ioredis";
import {
  latestStepPerVisitor,
  REALTIME,
  type RealtimeEvent,
  type RealtimeSnapshot,
  type RealtimeStore,
  type RecentEvent,
  type VisitorRename,
} from "./store";

/**
 * The real-time store in Redis: four sorted sets per account and funnel, scored by event time
 * (ms) and trimmed to their windows at every write, so memory stays bounded by the traffic of the
 * last 30 minutes plus 50 events per funnel.
 *   <prefix>{account:funnel}:visitors     visitor id        → its latest event time (ZADD GT)
 *   <prefix>{account:funnel}:entries      "visitor step"    → its latest step_entry time there (ZADD GT)
 *   <prefix>{account:funnel}:recent       event as JSON     → event time, the 50 highest kept
 *   <prefix>{account:funnel}:conversions  "event id value"  → event time
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
    for (const funnelEvents of groupBy(events, (e) => `${e.accountId}:${e.funnelId}`).values()) {
      const [first] = funnelEvents;
      if (!first) continue;
      const key = this.keys(first.accountId, first.funnelId);
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

  async snapshot(accountId: string, funnelId: string, now: number): Promise<RealtimeSnapshot> {
    const key = this.keys(accountId, funnelId);
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

  async renameVisitor(accountId: string, funnelIds: string[], rename: VisitorRename): Promise<void> {
    const sessions = [...rename.sessions].flat();
    for (const funnelId of funnelIds) {
      const key = this.keys(accountId, funnelId);
      await this.redis.eval(
        RENAME_SCRIPT,
        3,
        key.visitors,
        key.entries,
        key.recent,
        rename.from,
        rename.to,
        ...sessions,
      );
    }
  }

  private keys(accountId: string, funnelId: string) {
    // The braces make a Redis Cluster keep a funnel's keys on one node (one pipeline).
    const base = `${this.prefix}{${accountId}:${funnelId}}`;
    return {
      visitors: `${base}:visitors`,
      entries: `${base}:entries`,
      recent: `${base}:recent`,
      conversions: `${base}:conversions`,
    };
  }
}

/**
 * One funnel's rename, atomic against concurrent record() calls. New members are added before old
 * ones are removed, so a set never empties (which would drop its key and its expiry with it).
 * KEYS: visitors, entries, recent. ARGV: from, to, then old and new session ids in pairs.
 */
const RENAME_SCRIPT = `
local from, to = ARGV[1], ARGV[2]
local score = redis.call('ZSCORE', KEYS[1], from)
if score then
  redis.call('ZADD', KEYS[1], 'GT', score, to)
  redis.call('ZREM', KEYS[1], from)
end
local prefix = from .. ' '
local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  local member = entries[i]
  if string.sub(member, 1, #prefix) == prefix then
    redis.call('ZADD', KEYS[2], 'GT', entries[i + 1], to .. ' ' .. string.sub(member, #prefix + 1))
    redis.call('ZREM', KEYS[2], member)
  end
end
if #ARGV > 2 then
  local sessions = {}
  for i = 3, #ARGV - 1, 2 do sessions[ARGV[i]] = ARGV[i + 1] end
  local recent = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
  for i = 1, #recent, 2 do
    local ok, event = pcall(cjson.decode, recent[i])
    if ok and type(event) == 'table' and sessions[event[4]] then
      event[4] = sessions[event[4]]
      redis.call('ZADD', KEYS[3], recent[i + 1], cjson.encode(event))
      redis.call('ZREM', KEYS[3], recent[i])
    end
  end
end
return 1
`;

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
