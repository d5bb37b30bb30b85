/**
 * `pnpm bench reports`: the report routes over a one-year range on TimescaleDB, uncached and
 * cached, at growing data sizes (by default 1 and 10 million events: 5 funnels of 5 steps, about
 * 1 million visitors over a year).
 *
 * Events are written by the ingest worker's own writer (writeBatch: events, dedupe and rollups in
 * one transaction per 1,000 events), called directly rather than through HTTP and the queue: this
 * bench measures reports, `pnpm bench ingest` measures ingestion. The loaded database
 * (`bench_reports`) is kept, so a second run only measures; BENCH_REPORTS_FRESH=true reloads it.
 *
 * Options (env): BENCH_REPORTS_SIZES (comma-separated event counts, default 1000000,10000000),
 * BENCH_REPORTS_RUNS (requests per route and mode, default 7), BENCH_REPORTS_MEASURE=false (load only),
 * BENCH_REPORTS_DB (database name, default bench_reports: one per data size keeps each loaded).
 */
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { createDatabase } from "@funnel/db/client";
import { migrate } from "@funnel/db/migrate";
import { writeBatch } from "@funnel/db/queries/events";
import { validateEvents } from "@funnel/events";
import { type FunnelFixture, generateTraffic } from "@funnel/fixtures";
import postgres from "postgres";
import { startApi } from "../support/api-process";
import { repoRoot, servicesUp, withDatabase } from "../support/services";

const sizes = (process.env.BENCH_REPORTS_SIZES ?? "1000000,10000000").split(",").map(Number);
const runs = Number(process.env.BENCH_REPORTS_RUNS ?? 7);
const fresh = process.env.BENCH_REPORTS_FRESH === "true";
/** false: only load the data (e.g. ahead of a measurement on a quiet machine). */
const measuring = process.env.BENCH_REPORTS_MEASURE !== "false";

const ACCOUNT = "be9c0000-0000-4000-8000-000000000001";
const YEAR_END = new Date("2026-11-01T00:00:00Z");
const YEAR_START = new Date(YEAR_END.getTime() - 365 * 86_400_000);
const RANGE = { date_from: "2025-11-01", date_to: "2026-10-31" };
const VISITORS_PER_CHUNK = 4_000;

const STEP_TYPES = ["optin", "sales", "checkout", "upsell", "thankyou"] as const;
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
const FUNNELS: FunnelFixture[] = Array.from({ length: 5 }, (_, f) => {
  const id = (suffix: number) => `be9c${hex(f, 4)}-0000-4000-8000-${hex(suffix, 12)}`;
  const steps = STEP_TYPES.map((stepType, s) => ({
    id: id(0xa0 + s),
    name: `Step ${s + 1} (${stepType})`,
    step_type: stepType,
    position: s + 1,
    page_id: id(0xb0 + s),
  }));
  return {
    id: id(1),
    name: `Bench funnel ${f + 1}`,
    steps,
    pages: steps.map((s) => ({
      id: s.page_id,
      name: s.name,
      url: `https://shop.example.com/f${f}/${s.position}`,
    })),
  };
});

const { databaseUrl, redisUrl } = servicesUp();
const dbName = process.env.BENCH_REPORTS_DB ?? "bench_reports";
const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
const exists = (await admin`select 1 from pg_database where datname = ${dbName}`).length > 0;
if (exists && fresh) await admin.unsafe(`DROP DATABASE ${dbName} WITH (FORCE)`);
if (!exists || fresh) await admin.unsafe(`CREATE DATABASE ${dbName}`);
await admin.end();
const url = withDatabase(databaseUrl, dbName);

const handle = await createDatabase({
  url,
  poolMax: 3,
  statementTimeoutMs: 600_000,
  applicationName: "bench-load",
});
await migrate(handle);
const sql = postgres(url, { max: 1, onnotice: () => {} });
await sql`create table if not exists bench_reports_meta (chunk integer not null, events bigint not null)`;

const env = {
  DATABASE_URL: url,
  REDIS_URL: redisUrl,
  QUEUE_PREFIX: `bench-reports-${Date.now()}`,
  NODE_ENV: "production",
  EXPORT_SIGNING_SECRET: "bench-only-export-link-signing-secret-0123456789",
};
const keyOut = execFileSync(
  resolve(repoRoot, "node_modules/.bin/tsx"),
  ["api/src/cli/keys-create.ts", ACCOUNT],
  {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    encoding: "utf8",
  },
);
const auth = { authorization: `Bearer ${keyOut.trim().split("\n").pop() ?? ""}` };

const results: {
  size: number;
  route: string;
  uncachedP50: number;
  uncachedMax: number;
  cachedP50: number;
}[] = [];
try {
  await putFunnels();
  for (const size of sizes) {
    const loaded = await loadUpTo(size);
    if (!measuring) continue;
    console.log(`measuring at ${loaded.toLocaleString("en")} events`);
    await sql`vacuum analyze`;
    const measured = await measure(loaded);
    for (const r of measured)
      console.log(
        `  ${r.route}: uncached p50 ${r.uncachedP50.toFixed(0)} ms, cached p50 ${r.cachedP50.toFixed(2)} ms`,
      );
    results.push(...measured);
  }
} finally {
  await sql.end();
  await handle.close();
}

console.log("\n| events | route | uncached p50 | uncached max | cached p50 |");
console.log("| ---: | --- | ---: | ---: | ---: |");
for (const r of results) {
  console.log(
    `| ${r.size.toLocaleString("en")} | ${r.route} | ${r.uncachedP50.toFixed(0)} ms | ${r.uncachedMax.toFixed(0)} ms | ${r.cachedP50.toFixed(2)} ms |`,
  );
}

async function putFunnels(): Promise<void> {
  const api = await startApi({ ...env, RUN_WORKER: "false" });
  try {
    for (const f of FUNNELS) {
      const response = await fetch(`${api.url}/api/v1/funnels/${f.id}`, {
        method: "PUT",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({
          name: f.name,
          steps: f.steps.map(({ id, name, step_type, position }) => ({ id, name, step_type, position })),
          pages: f.pages,
        }),
      });
      if (!response.ok) throw new Error(`PUT funnel: ${response.status} ${await response.text()}`);
    }
  } finally {
    await api.stop();
  }
}

/** Loads chunks of generated traffic until `target` events are stored; returns the count. */
async function loadUpTo(target: number): Promise<number> {
  const [state] = await sql<{ chunk: number; events: string }[]>`
    select coalesce(max(chunk), -1) as chunk, coalesce(max(events), 0) as events from bench_reports_meta`;
  let chunk = (state?.chunk ?? -1) + 1;
  let stored = Number(state?.events ?? 0);
  const started = performance.now();
  const startCount = stored;
  while (stored < target) {
    for (const [f, funnel] of FUNNELS.entries()) {
      const events = generateTraffic({
        funnel,
        from: YEAR_START,
        to: YEAR_END,
        visitors: VISITORS_PER_CHUNK,
        seed: chunk * 10 + f,
      });
      const { accepted, rejected } = validateEvents(events, {
        context: { receivedAt: YEAR_END },
        fromBrowser: false,
        newId: () => crypto.randomUUID(),
      });
      if (rejected.length > 0) throw new Error(`generated events refused: ${JSON.stringify(rejected[0])}`);
      const batches: (typeof accepted)[] = [];
      for (let i = 0; i < accepted.length; i += 1_000) batches.push(accepted.slice(i, i + 1_000));
      // Two writers, as two ingest workers would.
      const writer = async () => {
        for (let batch = batches.shift(); batch; batch = batches.shift()) {
          const result = await writeBatch(
            handle.db,
            { source: "import", accountId: ACCOUNT, accepted: batch, rejected: [] },
            { batchId: crypto.randomUUID() },
          );
          stored += result.inserted;
        }
      };
      await Promise.all([writer(), writer()]);
    }
    await sql`insert into bench_reports_meta values (${chunk}, ${stored})`;
    const rate = (stored - startCount) / ((performance.now() - started) / 1000);
    console.log(`chunk ${chunk}: ${stored.toLocaleString("en")} events stored (${rate.toFixed(0)} events/s)`);
    chunk++;
  }
  return stored;
}

async function measure(size: number) {
  const routes = FUNNELS.slice(0, 1).flatMap((f) => [
    ["overview", `/api/v1/analytics/funnels/${f.id}/overview`],
    ["steps/{first step}", `/api/v1/analytics/funnels/${f.id}/steps/${f.steps[0]?.id}`],
    ["steps/{last step}", `/api/v1/analytics/funnels/${f.id}/steps/${f.steps[4]?.id}`],
    ["conversions", `/api/v1/analytics/funnels/${f.id}/conversions`],
    ["dropoffs", `/api/v1/analytics/funnels/${f.id}/dropoffs`],
    ["revenue", `/api/v1/analytics/funnels/${f.id}/revenue`],
  ]);
  const query = new URLSearchParams({ ...RANGE, granularity: "day" }).toString();
  const timings = async (cacheSeconds: number, count: number) => {
    const api = await startApi({ ...env, RUN_WORKER: "false", REPORT_CACHE_SECONDS: String(cacheSeconds) });
    try {
      const out = new Map<string, number[]>();
      for (const [name, path] of routes) {
        const times: number[] = [];
        // One warm-up (connections, plans; with the cache: the entry), then the timed requests.
        for (let i = 0; i <= count; i++) {
          const t0 = performance.now();
          const response = await fetch(`${api.url}${path}?${query}`, { headers: auth });
          await response.arrayBuffer();
          if (!response.ok) throw new Error(`${name}: ${response.status}`);
          if (i > 0) times.push(performance.now() - t0);
        }
        out.set(
          name ?? "",
          times.sort((a, b) => a - b),
        );
      }
      return out;
    } finally {
      await api.stop();
    }
  };
  const uncached = await timings(0, runs);
  const cached = await timings(600, 50);
  const p50 = (xs: number[]) => xs[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;
  return [...uncached.entries()].map(([route, times]) => ({
    size,
    route,
    uncachedP50: p50(times),
    uncachedMax: times[times.length - 1] ?? Number.NaN,
    cachedP50: p50(cached.get(route) ?? []),
  }));
}
