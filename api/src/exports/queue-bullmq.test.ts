import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase, type TestDatabase, testServices } from "@funnel/db/testing";
import { USER_AGENTS } from "@funnel/fixtures";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadConfig } from "../config";
import {
  createAccountWithKey,
  createTestApp,
  seedFunnel,
  startEventPipeline,
  type TestApp,
} from "../testing";
import { csvSections } from "../testing/exports";
import { BullMqExportQueue } from "./queue-bullmq";
import { createExportDeps } from "./runtime";
import { startExportWorker } from "./worker";

/**
 * An export queued on BullMQ survives a restart: the API process that queued it stops before any
 * worker ran, and a worker started later, with new connections on the same Redis prefix and
 * database (as after a deploy), finds the job in Redis and completes it.
 */

const PERIOD = { date_from: "2026-01-01", date_to: "2026-01-31" };
const prefix = `test-export-${randomBytes(4).toString("hex")}`;
const secret = randomBytes(32).toString("base64url");
let database: TestDatabase;
let shared: string;

beforeAll(async () => {
  database = await createTestDatabase();
  // The export folder API and workers share (EXPORT_DIR).
  shared = await mkdtemp(join(tmpdir(), "funnel-exports-"));
});
afterAll(async () => {
  const redis = new Redis(testServices().redisUrl);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await database?.drop();
  await rm(shared, { recursive: true, force: true });
});

/** One "process": the app on the shared database, its export queue on BullMQ. */
async function processOnBullMq(): Promise<TestApp> {
  const { redisUrl } = testServices();
  const settings = {
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    EXPORT_DIR: shared,
    EXPORT_SIGNING_SECRET: secret,
  };
  const dataDir = await mkdtemp(join(tmpdir(), "funnel-test-"));
  const config = loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    ...settings,
  });
  const queue = new BullMqExportQueue({ redisUrl, prefix });
  const exports = await createExportDeps(config, { queue });
  const app = await createTestApp({ database: database.handle, exports, config: settings });
  return {
    ...app,
    async close() {
      await queue.close();
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

it("a job queued before a restart is completed by a worker started after it", async () => {
  const api = await processOnBullMq();
  const owner = await createAccountWithKey(api.deps.database);
  const { funnelId, body } = await seedFunnel(api.app, owner.headers);
  const pipeline = startEventPipeline(api);
  const visit = {
    funnel_id: funnelId,
    session_id: randomUUID(),
    visitor_id: randomUUID(),
    user_agent: USER_AGENTS.chromeWindows,
  };
  await pipeline.importEvents(owner.headers, [
    {
      ...visit,
      event_type: "page_view",
      page_id: body.pages?.[0]?.id ?? "",
      url: "https://shop.example.com/",
      timestamp: "2026-01-15T10:00:00Z",
    },
    {
      ...visit,
      event_type: "step_entry",
      funnel_step_id: body.steps[0]?.id ?? "",
      timestamp: "2026-01-15T10:01:00Z",
    },
  ]);
  await pipeline.close();

  const posted = await api.app.request("/api/v1/analytics/export", {
    method: "POST",
    headers: { ...owner.headers, "content-type": "application/json" },
    body: JSON.stringify({ funnel_id: funnelId, report_type: "overview", format: "csv", ...PERIOD }),
  });
  expect(posted.status).toBe(202);
  const { job_id } = (await posted.json()) as { job_id: string };
  const queued = await api.app.request(`/api/v1/analytics/export/${job_id}`, { headers: owner.headers });
  expect(await queued.json()).toMatchObject({ status: "queued", progress: 0 });
  await api.close();

  // After the restart: the job is still in Redis (no worker has run; nothing queued it again yet).
  const next = await processOnBullMq();
  try {
    expect(await next.deps.exports.queue.depth()).toBe(1);
    const worker = await startExportWorker(next.deps, { cleanup: false });
    try {
      const deadline = Date.now() + 60_000;
      let job: { status: string; download_url?: string } = { status: "queued" };
      while (job.status !== "completed" && job.status !== "failed" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const response = await next.app.request(`/api/v1/analytics/export/${job_id}`, {
          headers: owner.headers,
        });
        job = (await response.json()) as typeof job;
      }
      expect(job.status).toBe("completed");
      const file = await next.app.request(job.download_url ?? "");
      expect(file.status).toBe(200);
      const report = (await (
        await next.app.request(
          `/api/v1/analytics/funnels/${funnelId}/overview?${new URLSearchParams(PERIOD)}`,
          { headers: owner.headers },
        )
      ).json()) as { visitors: { unique: number } };
      expect(report.visitors.unique).toBeGreaterThan(0);
      const summary = csvSections(await file.text()).tables.find((x) => x.title === "Summary");
      expect(summary?.rows).toContainEqual(["Unique visitors", String(report.visitors.unique)]);
      expect(await next.deps.exports.queue.depth()).toBe(0);
    } finally {
      await worker.close();
    }
  } finally {
    await next.close();
  }
});
