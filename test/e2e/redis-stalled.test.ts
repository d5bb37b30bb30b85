/**
 * The real API process with a Redis of its own that stops answering (SIGSTOP) without closing its
 * connections: ingest is answered 503 once REDIS_COMMAND_TIMEOUT_MS runs out, never held until
 * Redis comes back, and the same request is a 202 again once it does.
 */
import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@funnel/db/testing";
import { springSale } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiProcess, startApi } from "../support/api-process";
import { type RedisServer, startRedisServer } from "../support/redis-server";

const DEADLINE_MS = 1_000;

let database: TestDatabase;
let redis: RedisServer;
let api: ApiProcess;

beforeAll(async () => {
  database = await createTestDatabase();
  redis = await startRedisServer({ appendfsync: "everysec" });
  api = await startApi({
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: `e2e-${randomUUID()}`,
    RUN_WORKER: "false",
    REDIS_COMMAND_TIMEOUT_MS: String(DEADLINE_MS),
  });
}, 120_000);

afterAll(async () => {
  redis?.resume();
  await api?.stop();
  await redis?.remove();
  await database?.drop();
});

const track = (eventId: string) =>
  fetch(`${api.url}/api/v1/analytics/track`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      event_type: "page_view",
      event_id: eventId,
      funnel_id: springSale.id,
      page_id: springSale.pages[0]?.id,
      session_id: randomUUID(),
      visitor_id: randomUUID(),
      url: "https://shop.example.com/spring",
    }),
    signal: AbortSignal.timeout(30_000),
  });

describe("a stalled Redis", () => {
  it("turns /track into a 503 within the command deadline, and a 202 again once Redis answers", async () => {
    expect((await track(randomUUID())).status).toBe(202);
    const eventId = randomUUID();
    redis.pause();
    try {
      const started = Date.now();
      const refused = await track(eventId);
      const waited = Date.now() - started;
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("UNAVAILABLE");
      // The rate limit's command and the queue write each have the deadline: well under the
      // client's patience, and never the whole pause.
      expect(waited).toBeGreaterThanOrEqual(DEADLINE_MS * 0.9);
      expect(waited).toBeLessThan(DEADLINE_MS * 4);
    } finally {
      redis.resume();
    }
    expect((await track(eventId)).status).toBe(202);
  });
});
