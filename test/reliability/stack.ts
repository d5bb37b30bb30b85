import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { springSale } from "@funnel/fixtures";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import postgres from "postgres";
import type { RawEvent } from "../reference/reports";
import { type ApiProcess, freePort, startApi } from "../support/api-process";
import {
  createFaultsDatabase,
  type DedicatedCluster,
  type FaultsDatabase,
} from "../support/dedicated-database";
import { type Appendfsync, type RedisServer, startRedisServer } from "../support/redis-server";
import { type QueueCounts, queueCounts, type Settled, settle } from "../support/settle";
import { type TcpProxy, tcpProxy } from "../support/tcp-proxy";

/**
 * The production shape, each part a real process of its own: a Redis configured as the README
 * says, a fresh database on the suite's own TimescaleDB cluster, the HTTP API (RUN_WORKER=false)
 * and one ingest worker process (RUN_API=false), so each can be restarted or killed alone.
 */
export interface Stack {
  redis: RedisServer;
  database: FaultsDatabase;
  sql: postgres.Sql;
  api: ApiProcess;
  worker: ApiProcess;
  prefix: string;
  /** Between the API and worker processes and the database, when asked for (the test's own `sql` goes direct). */
  databaseProxy: TcpProxy | undefined;
  restartApi(signal: NodeJS.Signals): Promise<void>;
  restartWorker(signal: NodeJS.Signals): Promise<void>;
  /**
   * Starts a new ingest worker process in place of one the test has stopped itself
   * (`worker.stop(…)`), and waits until it is connected to the queue (so Redis must be up).
   */
  startWorker(): Promise<void>;
  /** Starts another ingest worker process beside the first, stopped by close(). */
  addWorker(): Promise<ApiProcess>;
  /** Starts another API process (its own port) beside the first, stopped by close(). */
  addApi(): Promise<ApiProcess>;
  queue(): Promise<QueueCounts>;
  /** Waits until the queue is empty and every accepted event is stored, or nothing changes for long. */
  settle(accepted: number, timeoutMs?: number): Promise<Settled>;
  account(accepted: Set<string>): Promise<Accounting>;
  /** Every stored event as the reference reports read it (test/reference/), bots included. */
  rawEvents(): Promise<RawEvent[]>;
  /** Rows in the events table now. */
  storedRows(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The API's report cache, as in production (its default). A report reflects every event stored
 * more than this long before the request (the README's freshness rule), so a check of report
 * figures waits this long after the last event is stored.
 */
export const REPORT_CACHE_SECONDS = 10;

/** The secret of signed edge batches (`/internal/ingest`), so hostile traffic can replay and alter them. */
export const EDGE_SIGNING_SECRET = "faults-only-edge-batch-signing-secret-0123456789";

export type { QueueCounts, Settled };

/** Every event answered 202, looked up in the events table after recovery. */
export interface Accounting {
  accepted: number;
  storedRows: number;
  /** Accepted ids with no row. */
  missing: number;
  /** Rows beyond the first for an event id. */
  duplicateRows: number;
  /** Rows whose id was never answered 202 (a request cut off after its batch was queued). */
  storedUnacknowledged: number;
}

export async function startStack(
  cluster: DedicatedCluster,
  options: {
    appendfsync: Appendfsync;
    ingestConcurrency?: number;
    /** The API and worker processes reach the database through a proxy the test can freeze and reset. */
    databaseProxy?: boolean;
  },
): Promise<Stack> {
  const redis = await startRedisServer({ appendfsync: options.appendfsync });
  const database = await createFaultsDatabase(cluster, redis.url);
  const databaseProxy = options.databaseProxy ? await tcpProxy(database.url) : undefined;
  const sql = postgres(database.url, { max: 2, onnotice: () => {} });
  const dataDir = mkdtempSync(join(tmpdir(), "funnel-faults-data-"));
  const prefix = `faults-${Date.now().toString(36)}`;
  const env = {
    DATABASE_URL: databaseProxy?.url ?? database.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    DATA_DIR: dataDir,
    CLIENT_IP_HEADER: "x-forwarded-for",
    NODE_ENV: "production",
    EXPORT_SIGNING_SECRET: "faults-only-export-link-signing-secret-0123456789",
    EDGE_SIGNING_SECRET,
    REPORT_CACHE_SECONDS: String(REPORT_CACHE_SECONDS),
  };
  const apiEnv = { ...env, RUN_WORKER: "false", PORT: String(await freePort()) };
  const workerEnv = {
    ...env,
    RUN_API: "false",
    INGEST_CONCURRENCY: String(options.ingestConcurrency ?? 4),
  };
  const monitor = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  const extraWorkers: ApiProcess[] = [];
  const extraApis: ApiProcess[] = [];
  monitor.on("error", () => {});
  // Counts the ingest queue's jobs over the monitor's connection; its errors while Redis is down
  // are the monitor's.
  const ingestQueue = new Queue("ingest", { connection: monitor, prefix });
  ingestQueue.on("error", () => {});

  const stack: Stack = {
    redis,
    database,
    sql,
    api: await startApi(apiEnv),
    worker: await startApi(workerEnv, { waitReady: false }),
    prefix,
    databaseProxy,
    async restartApi(signal) {
      await stack.api.stop(signal);
      // The same port: clients keep their address, as behind a process manager.
      stack.api = await startApi(apiEnv);
    },
    async restartWorker(signal) {
      await stack.worker.stop(signal);
      stack.worker = await startApi(workerEnv, { waitReady: false });
    },
    async startWorker() {
      if (stack.worker.child.exitCode === null && stack.worker.child.signalCode === null) {
        throw new Error("the ingest worker is still running: stop it first");
      }
      stack.worker = await startApi(workerEnv, { waitReady: false });
      await workerListening(monitor, prefix, stack.worker);
    },
    async addApi() {
      const api = await startApi({ ...apiEnv, PORT: String(await freePort()) });
      extraApis.push(api);
      return api;
    },
    async addWorker() {
      const worker = await startApi(workerEnv, { waitReady: false });
      extraWorkers.push(worker);
      return worker;
    },
    queue: () => queueCounts(ingestQueue),
    settle: (accepted, timeoutMs = 300_000) =>
      settle({
        readQueue: stack.queue,
        readRows: () => storedRows(sql),
        readBacklog: () => backlogRows(sql),
        accepted,
        timeoutMs,
      }),
    account: (accepted) => account(sql, accepted),
    rawEvents: () => rawEvents(sql),
    storedRows: () => storedRows(sql),
    async close() {
      await stack.api.stop();
      await stack.worker.stop();
      for (const worker of extraWorkers) await worker.stop();
      for (const api of extraApis) await api.stop();
      await databaseProxy?.close();
      await ingestQueue.close();
      monitor.disconnect();
      await sql.end();
      await database.drop();
      await redis.remove();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  await pushCatalog(stack.api.url, database.key);
  await workerListening(monitor, prefix, stack.worker);
  return stack;
}

/**
 * Waits until the worker process is connected as an ingest worker (BullMQ names a worker's Redis
 * connection `<prefix>:<base64 queue name>`), so that a scenario's fault never lands while it is
 * still booting: a worker whose start-up migration finds the database stopped exits, as it should,
 * and there is no process manager here to start it again.
 */
async function workerListening(monitor: Redis, prefix: string, worker: ApiProcess): Promise<void> {
  const name = `name=${prefix}:${Buffer.from("ingest").toString("base64")}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (worker.child.exitCode !== null) {
      throw new Error(`worker exited with ${worker.child.exitCode}:\n${worker.output().slice(-4_000)}`);
    }
    const clients = String(await monitor.client("LIST"));
    if (clients.split("\n").some((line) => line.includes(`${name} `) || line.includes(`${name}:w:`))) return;
    if (Date.now() > deadline)
      throw new Error(`worker not listening in time:\n${worker.output().slice(-4_000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function pushCatalog(url: string, key: string): Promise<void> {
  const res = await fetch(`${url}/api/v1/funnels/${springSale.id}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ name: springSale.name, steps: springSale.steps, pages: springSale.pages }),
  });
  if (res.status !== 200) throw new Error(`catalog PUT answered ${res.status}: ${await res.text()}`);
}

async function storedRows(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from analytics_events`;
  return row?.n ?? 0;
}

/** Stored events whose rollups the deriver has not derived yet (a row it could not derive is left out: it shows as a report that differs). */
async function backlogRows(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<
    { n: number }[]
  >`select count(*)::int as n from rollup_backlog where failed_at is null`;
  return row?.n ?? 0;
}

async function account(sql: postgres.Sql, accepted: Set<string>): Promise<Accounting> {
  const ids = [...accepted];
  return sql.begin(async (tx) => {
    await tx`create temp table accepted_ids (event_id uuid primary key) on commit drop`;
    for (let i = 0; i < ids.length; i += 50_000) {
      await tx`insert into accepted_ids select unnest(${ids.slice(i, i + 50_000)}::uuid[])`;
    }
    const [row] = await tx<Omit<Accounting, "accepted">[]>`
      select
        (select count(*)::int from analytics_events) as "storedRows",
        (select count(*)::int from accepted_ids a
          where not exists (select 1 from analytics_events e where e.event_id = a.event_id)) as missing,
        (select (count(*) - count(distinct event_id))::int from analytics_events) as "duplicateRows",
        (select count(*)::int from analytics_events e
          where not exists (select 1 from accepted_ids a where a.event_id = e.event_id)) as "storedUnacknowledged"`;
    if (!row) throw new Error("no accounting row");
    return { accepted: ids.length, ...row };
  });
}

/** The query of `storedRawEvents` (api/src/testing), the rows the reference suite computes from. */
async function rawEvents(sql: postgres.Sql): Promise<RawEvent[]> {
  const rows = await sql<{ j: string }[]>`
    select json_build_object(
        'event_id', event_id, 'funnel_id', funnel_id, 'event_type', event_type, 'visitor_id', visitor_id,
        'session_id', session_id, 'funnel_step_id', funnel_step_id, 'previous_step_id', previous_step_id,
        'next_step_id', next_step_id, 'exit_outcome', exit_outcome, 'conversion_type', conversion_type,
        'value_cents', value_cents, 'order_id', order_id, 'referrer', referrer, 'utm_source', utm_source,
        'device_type', device_type, 'browser', browser, 'is_bot', is_bot, 'metadata', metadata,
        'created_at', to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      )::text as j
    from analytics_events`;
  return rows.map((r) => JSON.parse(r.j) as RawEvent);
}

/** Resident memory of a process in bytes, from /proc (Linux). */
export function residentBytes(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? Number.NaN : Number(kb) * 1024;
}

/** Values of unlabelled metrics from a Prometheus text exposition. */
export function metricValues(text: string, names: string[]): Record<string, number> {
  const values: Record<string, number> = {};
  for (const name of names) {
    const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
    values[name] = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  }
  return values;
}

/**
 * What clients saw of a fault: answers other than 202, the longest stretch without a 202, and how
 * long after the service came back the first 202 was answered.
 */
export function clientView(
  acceptedAt: { at: number }[],
  refusedAt: number[],
  restoredAt: number,
): { refusedAnswers: number; longestGapMs: number; firstAcceptAfterRestoreMs: number } {
  const times = acceptedAt.map((a) => a.at).sort((a, b) => a - b);
  let longestGapMs = 0;
  for (let i = 1; i < times.length; i++) {
    longestGapMs = Math.max(longestGapMs, (times[i] ?? 0) - (times[i - 1] ?? 0));
  }
  const next = times.find((t) => t >= restoredAt);
  return {
    refusedAnswers: refusedAt.length,
    longestGapMs,
    firstAcceptAfterRestoreMs: next === undefined ? Number.NaN : next - restoredAt,
  };
}
