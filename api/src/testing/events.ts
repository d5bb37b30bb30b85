import { queryRows } from "@funnel/db/client";
import { sql } from "@funnel/db/orm";
import { deriveAll } from "@funnel/db/queries/derive";
import type { TrackEvent } from "@funnel/events";
import { createIngestHandler } from "../ingest/handler";
import { createMemoryIngestWorker, MemoryIngestQueue } from "../ingest/queue-memory";
import type { TestApp } from "./deps";

/**
 * The real ingest path for report tests on `createTestApp`: events go through
 * POST /api/v1/analytics/import, the in-process queue and its worker (writeBatch, real-time
 * store), then the deriver's rollups, exactly as in the embedded default.
 */
export interface EventPipeline {
  /** Imports `events` with the account's key and resolves once they are all written and derived. */
  importEvents(headers: Record<string, string>, events: TrackEvent[]): Promise<void>;
  close(): Promise<void>;
}

export function startEventPipeline(t: TestApp): EventPipeline {
  const { queue, database, logger, realtime } = t.deps;
  if (!(queue instanceof MemoryIngestQueue))
    throw new Error("startEventPipeline: needs the in-process queue");
  const handler = createIngestHandler({ database, logger, realtime });
  const worker = createMemoryIngestWorker(queue, { concurrency: 2, handler, logger });
  return {
    async importEvents(headers, events) {
      for (let i = 0; i < events.length; i += 10_000) {
        const response = await t.app.request("/api/v1/analytics/import", {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: JSON.stringify({ events: events.slice(i, i + 10_000) }),
        });
        if (response.status !== 202) throw new Error(`import: ${response.status} ${await response.text()}`);
      }
      const deadline = Date.now() + 30_000;
      while ((await queue.depth()) > 0) {
        if (Date.now() > deadline) throw new Error("import: the queue did not drain");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      if (queue.failed.length > 0) throw new Error(`import: a job failed: ${queue.failed[0]?.error}`);
      // The stored events' rollups, as the worker's deriver keeps them.
      await deriveAll(database.db);
    },
    close: () => worker.close(),
  };
}

/** Every stored event as the reference suite reads it: snake_case, times as ISO strings in UTC. */
export async function storedRawEvents(t: TestApp): Promise<Record<string, unknown>[]> {
  const rows = await queryRows<{ j: string | Record<string, unknown> }>(
    t.deps.database.db,
    sql`select json_build_object(
        'event_id', event_id, 'funnel_id', funnel_id, 'event_type', event_type, 'visitor_id', visitor_id,
        'session_id', session_id, 'funnel_step_id', funnel_step_id, 'previous_step_id', previous_step_id,
        'next_step_id', next_step_id, 'exit_outcome', exit_outcome, 'conversion_type', conversion_type,
        'value_cents', value_cents, 'order_id', order_id, 'referrer', referrer, 'utm_source', utm_source,
        'device_type', device_type, 'browser', browser, 'is_bot', is_bot, 'metadata', metadata,
        'created_at', to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      )::text as j
      from analytics_events`,
  );
  return rows.map((r) => (typeof r.j === "string" ? JSON.parse(r.j) : r.j) as Record<string, unknown>);
}
