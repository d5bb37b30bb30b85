/**
 * The real API process on TimescaleDB and Redis, driven over HTTP: every event answered 202 is
 * stored exactly once, whether the process is stopped gracefully or killed with work in hand.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { createTestDatabase, type TestDatabase, testServices } from "@funnel/db/testing";
import { generateTraffic, springSale } from "@funnel/fixtures";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiProcess, startApi } from "../support/api-process";
import { repoRoot } from "../support/services";

let database: TestDatabase;
let sql: postgres.Sql;
let env: Record<string, string>;
let key: string;

beforeAll(async () => {
  database = await createTestDatabase();
  sql = postgres(database.url, { max: 2, onnotice: () => {} });
  env = {
    DATABASE_URL: database.url,
    REDIS_URL: testServices().redisUrl,
    QUEUE_PREFIX: `e2e-${randomUUID()}`,
    INGEST_CONCURRENCY: "1",
  };
  const out = execFileSync(
    resolve(repoRoot, "node_modules/.bin/tsx"),
    ["api/src/cli/keys-create.ts", randomUUID()],
    {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "", ...env },
      encoding: "utf8",
    },
  );
  key = out.trim().split("\n").pop() ?? "";
});

afterAll(async () => {
  await sql.end();
  await database.drop();
});

async function pushCatalog(api: ApiProcess): Promise<void> {
  const res = await fetch(`${api.url}/api/v1/funnels/${springSale.id}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ name: springSale.name, steps: springSale.steps, pages: springSale.pages }),
  });
  expect(res.status).toBe(200);
}

/** Imports the events in requests of 2,000 and returns the ids the API accepted. */
async function importAll(api: ApiProcess, events: { event_id?: string }[]): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < events.length; i += 2_000) {
    const res = await fetch(`${api.url}/api/v1/analytics/import`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ events: events.slice(i, i + 2_000) }),
    });
    expect(res.status).toBe(202);
    accepted += ((await res.json()) as { accepted: number }).accepted;
  }
  return accepted;
}

async function storedIds(): Promise<{ total: number; distinct: number }> {
  const [row] = await sql<{ total: number; distinct: number }[]>`
    select count(*)::int as total, count(distinct event_id)::int as distinct from analytics_events`;
  return row ?? { total: 0, distinct: 0 };
}

async function waitFor(expected: number, timeoutMs = 90_000): Promise<{ total: number; distinct: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await storedIds();
    if (counts.total >= expected || Date.now() > deadline) return counts;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const traffic = (seed: number, visitors: number) =>
  generateTraffic({
    funnel: springSale,
    from: new Date(Date.now() - 7 * 86_400_000),
    to: new Date(),
    visitors,
    seed,
    retryShare: 0,
    botShare: 0,
  });

describe("the API process", () => {
  it("stores every accepted event once when stopped with SIGTERM mid-load and started again", async () => {
    env.QUEUE_PREFIX = `e2e-${randomUUID()}`;
    const api = await startApi(env);
    await pushCatalog(api);
    const events = traffic(11, 1_000);
    const accepted = await importAll(api, events);
    expect(accepted).toBe(events.length);
    // Stop while the worker still has queued batches: they stay in Redis for the next process.
    expect(await api.stop("SIGTERM")).toBe(0);

    const again = await startApi(env);
    try {
      const counts = await waitFor(events.length);
      expect(counts).toEqual({ total: events.length, distinct: events.length });
    } finally {
      await again.stop();
    }
  }, 180_000);

  it("loses no accepted event when killed with SIGKILL while writing, and stores none twice", async () => {
    await sql`truncate analytics_events, event_ids`;
    // A queue of its own: nothing left from the test before can land here.
    env.QUEUE_PREFIX = `e2e-${randomUUID()}`;
    const api = await startApi(env);
    const events = traffic(12, 1_000);
    const accepted = await importAll(api, events);
    expect(accepted).toBe(events.length);
    api.child.kill("SIGKILL");
    await new Promise((r) => api.child.once("exit", r));

    // Jobs the killed worker held are stalled; BullMQ hands them to the next worker after its lock
    // expires, and the writer's event-id dedupe makes re-running a half-done job harmless.
    const again = await startApi(env);
    try {
      const counts = await waitFor(events.length, 120_000);
      expect(counts).toEqual({ total: events.length, distinct: events.length });
    } finally {
      await again.stop();
    }
  }, 180_000);
});
