/**
 * `pnpm bench realtime`: latency of GET /api/v1/analytics/funnels/{id}/realtime at a steady
 * 200 requests/s while /track ingest runs, real API and worker processes on TimescaleDB and Redis.
 *
 * Options (env): BENCH_REALTIME_RATE (req/s, default 200), BENCH_REALTIME_SECONDS (default 30),
 * BENCH_TRACK_RATE (ingest req/s during the run, one event each, default 1000),
 * BENCH_REALTIME_API=separate (read the real-time view from a second API process, as a deployment
 * with several API processes behind its proxy would; default: the one taking /track).
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { Random, springSale, USER_AGENTS } from "@funnel/fixtures";
import postgres from "postgres";
import { startApi } from "../support/api-process";
import { pacedLoad } from "../support/paced-load";
import { dropRedisPrefix, repoRoot, servicesUp, withDatabase } from "../support/services";

const realtimeRate = Number(process.env.BENCH_REALTIME_RATE ?? 200);
const seconds = Number(process.env.BENCH_REALTIME_SECONDS ?? 30);
const trackRate = Number(process.env.BENCH_TRACK_RATE ?? 1_000);
const separateReader = process.env.BENCH_REALTIME_API === "separate";

const { databaseUrl, redisUrl } = servicesUp();
const dbName = `bench_realtime_${Date.now()}`;
const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
await admin.unsafe(`CREATE DATABASE ${dbName}`);
const url = withDatabase(databaseUrl, dbName);
const sql = postgres(url, { max: 1, onnotice: () => {} });

const env = {
  DATABASE_URL: url,
  REDIS_URL: redisUrl,
  QUEUE_PREFIX: `bench-${Date.now()}`,
  CLIENT_IP_HEADER: "x-forwarded-for",
  NODE_ENV: "production",
  EXPORT_SIGNING_SECRET: "bench-only-export-link-signing-secret-0123456789",
};
// As in production: the HTTP API and the ingest worker in separate processes.
const api = await startApi({ ...env, RUN_WORKER: "false" });
const worker = await startApi({ ...env, RUN_API: "false" }, { waitReady: false });
const reader = separateReader ? await startApi({ ...env, RUN_WORKER: "false" }) : api;

try {
  const keyOut = execFileSync(
    resolve(repoRoot, "node_modules/.bin/tsx"),
    ["api/src/cli/keys-create.ts", randomUUID()],
    { cwd: repoRoot, env: { ...process.env, ...env }, encoding: "utf8" },
  );
  const key = keyOut.trim().split("\n").pop() ?? "";
  const auth = { authorization: `Bearer ${key}` };
  const funnel = springSale;
  const put = await fetch(`${api.url}/api/v1/funnels/${funnel.id}`, {
    method: "PUT",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({
      name: funnel.name,
      steps: funnel.steps.map(({ id, name, step_type, position }) => ({ id, name, step_type, position })),
      pages: funnel.pages,
    }),
  });
  if (!put.ok) throw new Error(`catalog PUT failed: ${put.status} ${await put.text()}`);

  // Ingest: one event a request from 5,000 visitors walking the steps, each request its own IP.
  const rng = new Random(7);
  const visitors = Array.from({ length: 5_000 }, () => rng.uuid());
  // Evenly spaced too: a burst of each second's /track requests at its start would queue the
  // reads behind it, which many browsers sending events do not do.
  const ingest = pacedLoad({
    url: `${api.url}/api/v1/analytics/track`,
    ratePerSecond: trackRate,
    seconds: seconds + 5,
    headers: { "content-type": "application/json" },
    post: (n) => {
      const visitor = visitors[n % visitors.length] ?? randomUUID();
      const step = funnel.steps[n % funnel.steps.length];
      const kind = n % 10;
      const event =
        kind < 4
          ? { event_type: "step_entry", funnel_step_id: step?.id }
          : kind < 9
            ? { event_type: "page_view", page_id: step?.page_id, url: "https://shop.example.com/spring" }
            : { event_type: "conversion", conversion_type: "purchase", value_cents: 4_900 };
      return {
        headers: { "x-forwarded-for": `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` },
        body: JSON.stringify({
          ...event,
          event_id: randomUUID(),
          funnel_id: funnel.id,
          session_id: `s-${visitor}`,
          visitor_id: visitor,
          user_agent: USER_AGENTS.chromeWindows,
        }),
      };
    },
  });
  await new Promise((r) => setTimeout(r, 3_000));

  // Evenly spaced reads (see paced-load.ts for why not autocannon's overallRate).
  const realtime = await pacedLoad({
    url: `${reader.url}/api/v1/analytics/funnels/${funnel.id}/realtime`,
    headers: auth,
    ratePerSecond: realtimeRate,
    seconds,
  });
  const ingestResult = await ingest;
  const last = (await (
    await fetch(`${api.url}/api/v1/analytics/funnels/${funnel.id}/realtime`, { headers: auth })
  ).json()) as { active_visitors: { total: number }; recent_events: unknown[] };
  const stored = Number((await sql`select count(*)::int as n from analytics_events`)[0]?.n ?? 0);

  const report = {
    date: new Date().toISOString().slice(0, 10),
    reader: separateReader ? "a second API process" : "the API process taking /track",
    realtime: {
      target_rps: realtimeRate,
      achieved_rps: realtime.achievedPerSecond,
      requests: realtime.requests,
      non_2xx: realtime.non2xx,
      errors: realtime.errors,
      latency_ms: realtime.latencyMs,
    },
    ingest_during_run: {
      target_rps: trackRate,
      achieved_rps: ingestResult.achievedPerSecond,
      non_2xx: ingestResult.non2xx,
      track_latency_ms: { p50: ingestResult.latencyMs.p50, p99: ingestResult.latencyMs.p99 },
      events_stored: stored,
    },
    last_answer: { active_visitors: last.active_visitors.total, recent_events: last.recent_events.length },
  };
  console.log(JSON.stringify(report, null, 2));
} finally {
  if (reader !== api) await reader.stop();
  await api.stop();
  await worker.stop();
  await sql.end();
  await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  await dropRedisPrefix(redisUrl, env.QUEUE_PREFIX);
}
