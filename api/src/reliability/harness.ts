import { queryRows } from "@funnel/db/client";
import { sql } from "@funnel/db/orm";
import { createIngestHandler } from "../ingest/handler";
import { createMemoryIngestWorker, MemoryIngestQueue } from "../ingest/queue-memory";
import type { IngestWorker } from "../ports";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  type FunnelBody,
  seedFunnel,
  type TestApp,
  type TestDepsOptions,
} from "../testing";

/**
 * The reliability suite's in-process product: `createTestApp` (fresh database clone, in-process
 * queue) with the real ingest worker running, one account with a funnel, and raw access to what
 * the worker stored or failed. Raw bodies, so a test can send bytes no client library would.
 */
export interface IngestHarness {
  t: TestApp;
  account: AccountWithKey;
  funnelId: string;
  funnel: FunnelBody;
  /** POST `body` as is (a string) or as JSON. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Resolves once every queued job is written (or failed for good). */
  drained(): Promise<void>;
  /** Jobs the worker gave up on, with their error: each one lost the events it carried. */
  failedJobs(): string[];
  close(): Promise<void>;
}

export async function createIngestHarness(options: TestDepsOptions = {}): Promise<IngestHarness> {
  const t = await createTestApp(options);
  const queue = t.deps.queue;
  if (!(queue instanceof MemoryIngestQueue))
    throw new Error("createIngestHarness: needs the in-process queue");
  const handler = createIngestHandler({
    database: t.deps.database,
    logger: t.deps.logger,
    realtime: t.deps.realtime,
  });
  const worker: IngestWorker = createMemoryIngestWorker(queue, {
    concurrency: 2,
    handler,
    logger: t.deps.logger,
  });
  const account = await createAccountWithKey(t.deps.database);
  const { funnelId, body: funnel } = await seedFunnel(t.app, account.headers);
  return {
    t,
    account,
    funnelId,
    funnel,
    post: async (path, body, headers = {}) =>
      t.app.request(path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    async drained() {
      const deadline = Date.now() + 60_000;
      while ((await queue.depth()) > 0) {
        if (Date.now() > deadline) throw new Error("the ingest queue did not drain");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    failedJobs: () => queue.failed.map((f) => f.error),
    async close() {
      await worker.close();
      await t.close();
    },
  };
}

/**
 * Every stored event in the shape of the queue's payload (`storedEvent`): what the writer put in
 * the row, read back column by column, so the row can be checked against the schema it came from.
 */
export async function storedEventsAsAccepted(t: TestApp): Promise<Record<string, unknown>[]> {
  const rows = await queryRows<{ j: string | Record<string, unknown> }>(
    t.deps.database.db,
    sql`select json_build_object(
        'event_id', event_id, 'event_type', event_type, 'funnel_id', funnel_id, 'session_id', session_id,
        'visitor_id', visitor_id,
        'occurred_at', to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'received_at', to_char(received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'page_id', page_id, 'funnel_step_id', funnel_step_id, 'previous_step_id', previous_step_id,
        'next_step_id', next_step_id, 'exit_outcome', exit_outcome, 'conversion_type', conversion_type,
        'value_cents', value_cents, 'conversion_goal_id', conversion_goal_id, 'order_id', order_id,
        'variant_id', variant_id, 'url', url, 'referrer', referrer, 'utm_source', utm_source,
        'utm_medium', utm_medium, 'utm_campaign', utm_campaign, 'user_agent', user_agent,
        'ip_address', host(ip_address), 'metadata', metadata,
        'enrichment', json_build_object('device_type', device_type, 'browser', browser, 'os', os,
          'is_bot', is_bot, 'country', country)
      )::text as j
      from analytics_events`,
  );
  return rows.map((r) => (typeof r.j === "string" ? JSON.parse(r.j) : r.j) as Record<string, unknown>);
}
