import { getFunnel } from "@funnel/db/queries/catalog";
import type { AccountScope, Deps } from "../../deps";
import { NotFoundError } from "../../errors";

/**
 * The real-time view of a funnel (REQ-FUN-004-11, METRICS.md "Real-time"), from the rolling
 * picture the ingest worker keeps (api/src/realtime), never from the events table; answers are
 * cached for 5 seconds per account and funnel.
 */

export type RealtimeContext = Pick<Deps, "database" | "realtime" | "cache">;

export const REALTIME_CACHE_TTL_SECONDS = 5;

export interface RealtimeView {
  funnel_id: string;
  /** When this picture was taken (a cached answer keeps its own time). */
  timestamp: string;
  active_visitors: {
    total: number;
    by_step: { step_id: string; step_name: string; visitors: number }[];
  };
  recent_events: { event_type: string; step_id: string | null; timestamp: string; session_id: string }[];
  conversions_last_5min: { count: number; value_cents: number };
}

/**
 * Answers being computed, per cache: when the cached answer expires, the requests arriving before
 * the new one is stored wait for the one computation instead of each reading the whole store.
 */
const computing = new WeakMap<RealtimeContext["cache"], Map<string, Promise<RealtimeView>>>();

export async function getRealtime(
  ctx: RealtimeContext,
  scope: Pick<AccountScope, "accountId">,
  input: { funnelId: string; now?: number },
): Promise<RealtimeView> {
  // The account is part of the key: a cached answer is only ever served to its own account.
  const key = `realtime:${scope.accountId}:${input.funnelId}`;
  const cached = await ctx.cache.get<RealtimeView>(key);
  if (cached) return cached;
  let running = computing.get(ctx.cache);
  if (!running) {
    running = new Map();
    computing.set(ctx.cache, running);
  }
  const pending = running.get(key);
  if (pending) return pending;
  const computed = computeRealtime(ctx, scope, input, key).finally(() => running.delete(key));
  running.set(key, computed);
  return computed;
}

async function computeRealtime(
  ctx: RealtimeContext,
  scope: Pick<AccountScope, "accountId">,
  input: { funnelId: string; now?: number },
  key: string,
): Promise<RealtimeView> {
  const funnel = await getFunnel(ctx.database.db, scope.accountId, input.funnelId);
  if (!funnel) throw new NotFoundError("funnel");
  const now = input.now ?? Date.now();
  const snapshot = await ctx.realtime.snapshot(scope.accountId, funnel.id, now);
  const view: RealtimeView = {
    funnel_id: funnel.id,
    timestamp: new Date(now).toISOString(),
    active_visitors: {
      total: snapshot.activeVisitors,
      // Every step in funnel order, zeros included; entries of steps since removed are not shown.
      by_step: funnel.steps.map((step) => ({
        step_id: step.id,
        step_name: step.name,
        visitors: snapshot.activeByStep[step.id] ?? 0,
      })),
    },
    recent_events: snapshot.recentEvents.map((e) => ({
      event_type: e.eventType,
      step_id: e.stepId,
      timestamp: new Date(e.occurredAt).toISOString(),
      session_id: e.sessionId,
    })),
    conversions_last_5min: {
      count: snapshot.conversions.count,
      value_cents: snapshot.conversions.valueCents,
    },
  };
  await ctx.cache.set(key, view, REALTIME_CACHE_TTL_SECONDS);
  return view;
}
