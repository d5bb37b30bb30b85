/**
 * `pnpm bench ingest`: events/s from HTTP accept to rows committed in TimescaleDB, and on to their
 * rollups derived (visible in the reports), through /import and through /track, and /track latency under a steady load from this (second) process.
 * On Linux each phase also reports the CPU time per event (per request) of the API, the worker,
 * PostgreSQL, Redis, this process and the rest of the machine (test/support/cpu.ts).
 *
 * Options (env): BENCH_IMPORT_EVENTS (default 300000), BENCH_TRACK_RATE (req/s, default 5000),
 * BENCH_TRACK_SECONDS (default 20), BENCH_WORKERS (worker processes, default 1), BENCH_API_PROCESSES
 * (API processes, default 1; /track goes to them in turn), BENCH_PROFILE_DIR
 * (the API and each worker process write a V8 CPU profile under it, in api/ and worker/, when they stop),
 * BENCH_KEEP_DB=1 (the bench database is kept, and named, for a look at what was stored); INGEST_*
 * and DERIVE_* variables are passed to the API and worker processes. The same /track load is then sent to a bare
 * Node HTTP server (test/support/bare-server.ts): this machine's floor for those latencies.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { generateTraffic, springSale, webinar } from "@funnel/fixtures";
import postgres from "postgres";
import { startApi } from "../support/api-process";
import { startBareServer } from "../support/bare-server";
import { type CpuParts, cpuPerUnit, runsHere, sampleCpu, serverOf } from "../support/cpu";
import { handlerShares } from "../support/handler-latency";
import { pacedLoad } from "../support/paced-load";
import { dropRedisPrefix, repoRoot, servicesUp, withDatabase } from "../support/services";

const importEvents = Number(process.env.BENCH_IMPORT_EVENTS ?? 300_000);
const trackRate = Number(process.env.BENCH_TRACK_RATE ?? 5_000);
const trackSeconds = Number(process.env.BENCH_TRACK_SECONDS ?? 20);

const { databaseUrl, redisUrl } = servicesUp();
const dbName = `bench_ingest_${Date.now()}`;
const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
await admin.unsafe(`CREATE DATABASE ${dbName}`);
const url = withDatabase(databaseUrl, dbName);
const sql = postgres(url, { max: 2, onnotice: () => {} });

const env = {
  DATABASE_URL: url,
  REDIS_URL: redisUrl,
  QUEUE_PREFIX: `bench-${Date.now()}`,
  CLIENT_IP_HEADER: "x-forwarded-for",
  NODE_ENV: "production",
  EXPORT_SIGNING_SECRET: "bench-only-export-link-signing-secret-0123456789",
  // The ingest and deriver settings (INGEST_WRITERS, DERIVE_CONCURRENCY, ...) pass through.
  ...Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => /^(INGEST|DERIVE)_/.test(e[0]) && e[1] !== undefined,
    ),
  ),
};
// As in production: the HTTP API and the ingest worker in separate processes, so the worker's
// batch writing never sits on the request path's event loop.
const profile = (role: string): Record<string, string> =>
  process.env.BENCH_PROFILE_DIR
    ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${resolve(process.env.BENCH_PROFILE_DIR, role)}` }
    : {};
// BENCH_API_PROCESSES API processes (default 1): /track is spread over them in turn, as a load
// balancer would; /import and the catalog go to the first.
const apis = await Promise.all(
  Array.from({ length: Number(process.env.BENCH_API_PROCESSES ?? 1) }, () =>
    startApi({ ...env, RUN_WORKER: "false", ...profile("api") }),
  ),
);
const api = apis[0] as (typeof apis)[number];
const workers = await Promise.all(
  Array.from({ length: Number(process.env.BENCH_WORKERS ?? 1) }, () =>
    startApi({ ...env, RUN_API: "false", ...profile("worker") }, { waitReady: false }),
  ),
);
const cpuParts: CpuParts = {
  api: apis.flatMap((a) => (a.child.pid === undefined ? [] : [a.child.pid])),
  workers: workers.flatMap((w) => (w.child.pid === undefined ? [] : [w.child.pid])),
  redis: await redisPid(redisUrl),
  postmaster: await postmasterPid(),
};
const stored = async () => Number((await sql`select count(*)::int as n from analytics_events`)[0]?.n ?? 0);
/** Stored events whose rollups are not derived yet: none left means the reports count them all. */
const waiting = async () => Number((await sql`select count(*)::int as n from rollup_backlog`)[0]?.n ?? 0);

/** When the deriver has emptied the backlog (polled every 100 ms). */
async function waitForDerived(timeoutMs = 900_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await waiting();
    if (n === 0) return Date.now();
    if (Date.now() > deadline) throw new Error(`${n} backlog rows left after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * When the table first holds `expected` rows. Counting them costs the database 20-100 ms of a
 * core, so it is done often only near the end: every 250 ms it took a tenth of what was measured.
 * Between counts it waits half the time the rate since `since` (from `base` rows) says is left.
 */
async function waitForRows(
  expected: number,
  base: number,
  since: number,
  timeoutMs = 600_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await stored();
    const now = Date.now();
    if (n >= expected) return now;
    if (now > deadline) throw new Error(`only ${n} of ${expected} rows after ${timeoutMs} ms`);
    const perMs = (n - base) / Math.max(1, now - since);
    const left = perMs > 0 ? (expected - n) / perMs : 2_000;
    await new Promise((r) => setTimeout(r, Math.min(2_000, Math.max(100, left / 2))));
  }
}

try {
  const keyOut = execFileSync(
    resolve(repoRoot, "node_modules/.bin/tsx"),
    ["api/src/cli/keys-create.ts", randomUUID()],
    {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      encoding: "utf8",
    },
  );
  const key = keyOut.trim().split("\n").pop() ?? "";
  const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  for (const funnel of [springSale, webinar]) {
    const res = await fetch(`${api.url}/api/v1/funnels/${funnel.id}`, {
      method: "PUT",
      headers: auth,
      body: JSON.stringify({ name: funnel.name, steps: funnel.steps, pages: funnel.pages }),
    });
    if (!res.ok) throw new Error(`catalog PUT failed: ${res.status} ${await res.text()}`);
  }

  // --- /import: 10,000 events a request, four requests in flight.
  const now = new Date();
  const from = new Date(now.getTime() - 30 * 86_400_000);
  const events = generateTraffic({
    funnel: springSale,
    from,
    to: now,
    visitors: Math.ceil(importEvents / 10),
    seed: 7,
    retryShare: 0,
  }).slice(0, importEvents);
  const bodies: string[] = [];
  for (let i = 0; i < events.length; i += 10_000)
    bodies.push(JSON.stringify({ events: events.slice(i, i + 10_000) }));
  const cpu0 = sampleCpu(cpuParts);
  const t0 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++];
        // A careful client: one retry of the same body (its event ids make it harmless) when a
        // kept-alive connection the API had closed while the traffic was generated fails.
        const post = () =>
          fetch(`${api.url}/api/v1/analytics/import`, { method: "POST", headers: auth, body });
        const res = await post().catch(post);
        if (res.status !== 202) throw new Error(`import answered ${res.status}: ${await res.text()}`);
      }
    }),
  );
  const tAccepted = Date.now();
  const tStored = await waitForRows(events.length, 0, t0);
  const tDerived = await waitForDerived();
  const importCpu = cpuPerUnit(cpu0, sampleCpu(cpuParts), events.length);
  const importRate = Math.round(events.length / ((tStored - t0) / 1000));
  const visibleRate = Math.round(events.length / ((tDerived - t0) / 1000));
  const acceptRate = Math.round(events.length / ((tAccepted - t0) / 1000));

  // --- /track: one event a request at a steady rate, each from its own client IP.
  const trackPost = (n: number) => ({
    headers: { "x-forwarded-for": `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` },
    body: JSON.stringify({
      event_type: "page_view",
      event_id: randomUUID(),
      funnel_id: webinar.id,
      page_id: webinar.pages[0]?.id,
      session_id: randomUUID(),
      visitor_id: randomUUID(),
      url: "https://shop.example.com/webinar",
      user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    }),
  });
  const before = await stored();
  const cpu1 = sampleCpu(cpuParts);
  // Evenly spaced, as many browsers send (test/support/paced-load.ts), latency from when each
  // request was due.
  const result = await pacedLoad({
    url: apis.map((a) => `${a.url}/api/v1/analytics/track`),
    ratePerSecond: trackRate,
    seconds: trackSeconds,
    headers: { "content-type": "application/json" },
    post: trackPost,
  });
  const tTrackEnd = Date.now();
  const apiSide = handlerShares(
    await Promise.all(apis.map(async (a) => (await fetch(`${a.url}/metrics`)).text())),
    "/api/v1/analytics/track",
  );
  const accepted = result.requests - result.non2xx - result.errors;
  const tTrackStored = await waitForRows(before + accepted, before, tTrackEnd);
  const lag = tTrackStored - tTrackEnd;
  const derivedLag = (await waitForDerived()) - tTrackEnd;
  const trackCpu = cpuPerUnit(cpu1, sampleCpu(cpuParts), accepted);

  // --- The same load against a Node server that only answers: what this machine itself adds.
  const bare = await startBareServer();
  const floor = await pacedLoad({
    url: `${bare.url}/api/v1/analytics/track`,
    ratePerSecond: trackRate,
    seconds: trackSeconds,
    headers: { "content-type": "application/json" },
    post: trackPost,
  }).finally(() => bare.stop());

  const report = {
    date: new Date().toISOString().slice(0, 10),
    import: {
      events: events.length,
      accepted_per_s: acceptRate,
      stored_events_per_s: importRate,
      visible_in_reports_events_per_s: visibleRate,
      seconds_to_stored: (tStored - t0) / 1000,
      seconds_to_visible: (tDerived - t0) / 1000,
      cpu_us_per_event: importCpu,
    },
    track: {
      target_rps: trackRate,
      achieved_rps: result.achievedPerSecond,
      accepted,
      non_2xx: result.non2xx,
      errors: result.errors,
      latency_ms: result.latencyMs,
      stored_lag_after_load_ms: lag,
      visible_lag_after_load_ms: derivedLag,
      cpu_us_per_request: trackCpu,
      handler_share_within_ms: apiSide,
    },
    bare_node_server: {
      achieved_rps: floor.achievedPerSecond,
      non_2xx: floor.non2xx,
      errors: floor.errors,
      latency_ms: floor.latencyMs,
    },
  };
  console.log(JSON.stringify(report, null, 2));
} catch (error) {
  console.error(api.output().slice(-3000));
  throw error;
} finally {
  await Promise.all(apis.map((a) => a.stop()));
  await Promise.all(workers.map((w) => w.stop()));
  await sql.end();
  if (process.env.BENCH_KEEP_DB === "1") console.error(`kept database ${dbName}`);
  else await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  await dropRedisPrefix(redisUrl, env.QUEUE_PREFIX);
}

/** The Redis server's process id (INFO server), when it runs on this machine. */
async function redisPid(url: string): Promise<number | undefined> {
  const { Redis } = await import("ioredis");
  const redis = new Redis(url, { maxRetriesPerRequest: 2 });
  try {
    const info = await redis.info("server");
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    return Number.isInteger(pid) && runsHere(pid, "redis-server") ? pid : undefined;
  } finally {
    redis.disconnect();
  }
}

/** The database server's postmaster, when it runs on this machine. */
async function postmasterPid(): Promise<number | undefined> {
  const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  return row ? serverOf(row.pid) : undefined;
}
