import {
  latestStepPerVisitor,
  REALTIME,
  type RealtimeEvent,
  type RealtimeSnapshot,
  type RealtimeStore,
  type RecentEvent,
  type VisitorRename,
} from "./store";

interface FunnelPicture {
  /** visitor → latest event time. */
  visitors: Map<string, number>;
  /** `visitor step` → latest entry time. */
  entries: Map<string, number>;
  /** Newest first. */
  recent: (RecentEvent & { eventId: string })[];
  /** event id → conversion. */
  conversions: Map<string, { at: number; valueCents: number }>;
  /** Last record() (wall clock): the newest events are forgotten after REALTIME.recentEventsTtlMs. */
  recordedAt: number;
}

/** The embedded default's real-time store: the Redis store's twin in process memory. */
export class MemoryRealtimeStore implements RealtimeStore {
  /** By `account:funnel`, as the Redis store's keys. */
  private readonly funnels = new Map<string, FunnelPicture>();

  constructor(private readonly clock: () => number = Date.now) {}

  async record(events: RealtimeEvent[]): Promise<void> {
    const now = this.clock();
    const activeFrom = now - REALTIME.activeWindowMs;
    const conversionsFrom = now - REALTIME.conversionWindowMs;
    const touched = new Set<FunnelPicture>();
    for (const e of events) {
      const picture = this.picture(e.accountId, e.funnelId);
      touched.add(picture);
      if (e.occurredAt >= activeFrom) {
        picture.visitors.set(e.visitorId, Math.max(picture.visitors.get(e.visitorId) ?? 0, e.occurredAt));
        if (e.eventType === "step_entry" && e.stepId) {
          const key = `${e.visitorId} ${e.stepId}`;
          picture.entries.set(key, Math.max(picture.entries.get(key) ?? 0, e.occurredAt));
        }
      }
      if (e.eventType === "conversion" && e.occurredAt >= conversionsFrom) {
        picture.conversions.set(e.eventId, { at: e.occurredAt, valueCents: e.valueCents ?? 0 });
      }
      if (!picture.recent.some((r) => r.eventId === e.eventId)) {
        picture.recent.push({
          eventId: e.eventId,
          eventType: e.eventType,
          stepId: e.stepId,
          sessionId: e.sessionId,
          occurredAt: e.occurredAt,
        });
      }
    }
    for (const picture of touched) {
      picture.recent.sort((a, b) => b.occurredAt - a.occurredAt || (a.eventId < b.eventId ? 1 : -1));
      picture.recent.length = Math.min(picture.recent.length, REALTIME.recentEvents);
      picture.recordedAt = now;
      prune(picture, now);
    }
  }

  async snapshot(accountId: string, funnelId: string, now: number): Promise<RealtimeSnapshot> {
    const picture = this.funnels.get(pictureKey(accountId, funnelId));
    if (!picture)
      return {
        activeVisitors: 0,
        activeByStep: {},
        recentEvents: [],
        conversions: { count: 0, valueCents: 0 },
      };
    const activeFrom = now - REALTIME.activeWindowMs;
    const conversionsFrom = now - REALTIME.conversionWindowMs;
    let activeVisitors = 0;
    for (const at of picture.visitors.values()) if (at >= activeFrom) activeVisitors++;
    const entries: [string, string, number][] = [];
    for (const [key, at] of picture.entries) {
      if (at < activeFrom) continue;
      const [visitorId = "", stepId = ""] = key.split(" ");
      entries.push([visitorId, stepId, at]);
    }
    let count = 0;
    let valueCents = 0;
    for (const c of picture.conversions.values()) {
      if (c.at < conversionsFrom) continue;
      count++;
      valueCents += c.valueCents;
    }
    return {
      activeVisitors,
      activeByStep: latestStepPerVisitor(entries),
      recentEvents:
        now - picture.recordedAt > REALTIME.recentEventsTtlMs
          ? []
          : picture.recent.map(({ eventId: _, ...event }) => event),
      conversions: { count, valueCents },
    };
  }

  async renameVisitor(accountId: string, funnelIds: string[], rename: VisitorRename): Promise<void> {
    for (const funnelId of funnelIds) {
      const picture = this.funnels.get(pictureKey(accountId, funnelId));
      if (!picture) continue;
      const last = picture.visitors.get(rename.from);
      if (last !== undefined) {
        picture.visitors.delete(rename.from);
        picture.visitors.set(rename.to, Math.max(picture.visitors.get(rename.to) ?? 0, last));
      }
      for (const [key, at] of [...picture.entries]) {
        const [visitorId, stepId] = key.split(" ");
        if (visitorId !== rename.from) continue;
        picture.entries.delete(key);
        const renamed = `${rename.to} ${stepId}`;
        picture.entries.set(renamed, Math.max(picture.entries.get(renamed) ?? 0, at));
      }
      for (const event of picture.recent)
        event.sessionId = rename.sessions.get(event.sessionId) ?? event.sessionId;
    }
  }

  private picture(accountId: string, funnelId: string): FunnelPicture {
    const key = pictureKey(accountId, funnelId);
    let picture = this.funnels.get(key);
    if (!picture) {
      picture = {
        visitors: new Map(),
        entries: new Map(),
        recent: [],
        conversions: new Map(),
        recordedAt: 0,
      };
      this.funnels.set(key, picture);
    }
    return picture;
  }
}

const pictureKey = (accountId: string, funnelId: string) => `${accountId}:${funnelId}`;

/** Drops what has left its window, as the Redis store's trims do. */
function prune(picture: FunnelPicture, now: number): void {
  const activeFrom = now - REALTIME.activeWindowMs;
  for (const [visitor, at] of picture.visitors) if (at < activeFrom) picture.visitors.delete(visitor);
  for (const [key, at] of picture.entries) if (at < activeFrom) picture.entries.delete(key);
  const conversionsFrom = now - REALTIME.conversionWindowMs;
  for (const [id, c] of picture.conversions) if (c.at < conversionsFrom) picture.conversions.delete(id);
}
