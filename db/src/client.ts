import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import type { Logger, SQL } from "drizzle-orm";
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { type DataDirLock, lockDataDir } from "./data-dir-lock";
import * as schema from "./schema";

/** One drizzle type for both drivers, so queries never know which one runs them. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export { DataDirLockedError } from "./data-dir-lock";

export type DatabaseKind = "timescaledb" | "postgres" | "pglite";

export interface DatabaseHandle {
  db: Database;
  /**
   * Set by `migrate()`: whether analytics_events is a hypertable or natively partitioned.
   * Before that it only tells the driver ('postgres' for a URL, 'pglite' otherwise).
   */
  kind: DatabaseKind;
  ping(): Promise<void>;
  /** Runs `fn` while holding a database-wide advisory lock (its own connection), so concurrent
   * processes take turns; PGlite has one process and runs it at once. */
  exclusive<T>(lockKey: number, fn: () => Promise<T>): Promise<T>;
  /**
   * LISTENs on `channel`, on a connection of its own for a server, reconnecting until stopped.
   * `onListen` runs each time listening starts (the first time and after every reconnect) and
   * `onLost` each time its connection closes: notifications sent in between are lost, so what
   * depends on them must not trust itself from `onLost` until `onListen`. Returns the stop.
   */
  listen(channel: string, handlers: ListenHandlers): () => Promise<void>;
  close(): Promise<void>;
}

export interface ListenHandlers {
  onNotify: (payload: string) => void;
  onListen: () => void;
  onLost: () => void;
}

export interface DatabaseOptions {
  /** postgres:// URL; absent means embedded PGlite in `dataDir`. */
  url?: string | undefined;
  /** PGlite data folder; `memory://` for a throwaway in-memory database. */
  dataDir?: string | undefined;
  poolMax?: number;
  /** Deadline of every statement and of every wait for a pooled connection. */
  statementTimeoutMs?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /**
   * Called with every statement drizzle sends (its text and parameters), before it runs: tests
   * read what the product asks of the database (the account-keyed SQL check).
   */
  onQuery?: (query: string, params: unknown[]) => void;
}

/**
 * A query waited longer than its deadline for a free pooled connection. Drizzle wraps it (as the
 * `cause` of a DrizzleQueryError): test with `isDatabaseBusy`.
 */
export class DatabaseBusyError extends Error {
  override name = "DatabaseBusyError";
}

/** Whether `error`, or an error it wraps, is a DatabaseBusyError: an overload to report as such, not a bug. */
export function isDatabaseBusy(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DatabaseBusyError) return true;
  }
  return false;
}

/**
 * A query got no answer within its statement timeout and a second more: the server stopped
 * answering (paused, partitioned away), so its own statement_timeout cannot end the wait.
 */
export class DatabaseDeadlineError extends Error {
  override name = "DatabaseDeadlineError";
  readonly code = "QUERY_DEADLINE";
}

/**
 * Connection-level failures: the server is down, starting up or shutting down, or dropped the
 * connection (postgres.js codes, Node socket errors, SQLSTATE class 57P). Worth a retry later.
 */
const UNAVAILABLE_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "57P01",
  "57P02",
  "57P03",
  "QUERY_DEADLINE",
]);

/** Whether `error`, or an error it wraps, says the database cannot be reached right now. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && UNAVAILABLE_CODES.has(code)) return true;
  }
  return false;
}

const DEFAULT_POOL_MAX = 10;
const DEFAULT_STATEMENT_TIMEOUT_MS = 15_000;
/** How much longer than the statement timeout the client waits for an answer on its own. */
const CLIENT_DEADLINE_GRACE_MS = 1_000;

export async function createDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.url) return connectPostgres(options.url, options);
  if (options.dataDir) return openPglite(options.dataDir, options);
  throw new Error("createDatabase: give a postgres:// url, or a PGlite dataDir (or memory://)");
}

function connectPostgres(url: string, options: DatabaseOptions): DatabaseHandle {
  const poolMax = options.poolMax ?? DEFAULT_POOL_MAX;
  const timeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const client = postgres(url, {
    max: poolMax,
    connect_timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
    backoff: reconnectDelaySeconds,
    // NOTICEs (e.g. "already exists, skipping") are not the app's business.
    onnotice: () => {},
    connection: {
      application_name: options.applicationName ?? "funnel",
      statement_timeout: timeoutMs,
      // JIT compiling a plan per chunk made reports across many chunks ~10x slower.
      jit: "off",
      // Rollup buckets are UTC; anything reading timestamptz as local time does so in UTC.
      TimeZone: "UTC",
      // Exact distinct counts hash a few hundred thousand visitor ids for a year's report: with
      // the 4 MB default the hash spills to disk. Per sort or hash node, per connection.
      work_mem: "64MB",
      // A report already runs its figures as concurrent queries over the pool; parallel workers
      // forked per query cost more than they save on these index scans of a few thousand rows
      // (measured at 10 M events: 116 ms with a Gather against 43 ms without, for one of them).
      max_parallel_workers_per_gather: "0",
    },
  });
  const db: Database = drizzlePostgres({
    client: gated(client, createGate(poolMax, timeoutMs), timeoutMs + CLIENT_DEADLINE_GRACE_MS),
    schema,
    logger: queryLogger(options),
  });
  return {
    db,
    kind: "postgres",
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    exclusive: async (lockKey, fn) => {
      const lock = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
      try {
        await lock`select pg_advisory_lock(${lockKey})`;
        return await fn();
      } finally {
        await lock.end({ timeout: 5 });
      }
    },
    listen: (channel, handlers) =>
      listenPostgres(url, channel, handlers, `${options.applicationName ?? "funnel"}-listen`),
    close: () => client.end({ timeout: 5 }),
  };
}

/**
 * Seconds a closed connection waits before it connects again. postgres.js counts failures for the
 * whole pool and waits up to 20 s by default: one reset of the network closes every connection
 * at once, which it counts as that many failures in a row, and requests then waited 10-20 s for
 * a connection (past their deadline) although the server answered at once. Capped at 2 s here;
 * a server that is down sees at most one attempt per pool connection every second or two.
 */
function reconnectDelaySeconds(failures: number): number {
  return (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** failures, 2);
}

const LISTEN_RETRY_MS = 1_000;

/**
 * postgres.js's own `listen` gives up on a channel when its first reconnect fails (the server
 * still down) and says nothing: this one keeps trying, and tells when it is not listening.
 */
function listenPostgres(
  url: string,
  channel: string,
  handlers: ListenHandlers,
  applicationName: string,
): () => Promise<void> {
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const schedule = (ms: number) => {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void start();
    }, ms);
    retry.unref();
  };
  const connection = postgres(url, {
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: 10,
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: applicationName },
    onclose: () => {
      handlers.onLost();
      schedule(LISTEN_RETRY_MS);
    },
    // Not in postgres.js's types, but what its own listen uses: every NOTIFY on this connection.
    ...{ onnotify: (name: string, payload: string) => name === channel && handlers.onNotify(payload) },
  });
  const start = async () => {
    try {
      await connection.unsafe(`listen "${channel.replace(/"/g, '""')}"`);
      handlers.onListen();
    } catch {
      handlers.onLost();
      schedule(LISTEN_RETRY_MS);
    }
  };
  void start();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await connection.end({ timeout: 5 });
  };
}

/** drizzle's logger, for `onQuery`; none (drizzle's default) without it. */
function queryLogger(options: Pick<DatabaseOptions, "onQuery">): Logger | false {
  const onQuery = options.onQuery;
  return onQuery ? { logQuery: (query, params) => onQuery(query, params) } : false;
}

async function openPglite(
  dataDir: string,
  options: Pick<DatabaseOptions, "onQuery">,
): Promise<DatabaseHandle> {
  // A folder is for one process at a time (data-dir-lock.ts); memory:// is this process's own.
  let lock: DataDirLock | undefined;
  if (!dataDir.includes("://")) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    lock = await lockDataDir(dataDir);
  }
  let client: PGlite;
  try {
    client = await PGlite.create(dataDir);
  } catch (error) {
    lock?.release();
    throw error;
  }
  const db: Database = drizzlePglite({ client, schema, logger: queryLogger(options) });
  return {
    db,
    kind: "pglite",
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    exclusive: (_lockKey, fn) => fn(),
    listen: (channel, { onNotify, onListen }) => {
      // In this process: its notifications are never lost.
      const listening = client.listen(channel, onNotify).then((unlisten) => {
        onListen();
        return unlisten;
      });
      return async () => (await listening)();
    },
    close: async () => {
      try {
        await client.close();
      } finally {
        lock?.release();
      }
    },
  };
}

/**
 * Rows of a raw `db.execute()`, which the two drivers shape differently (postgres.js: an array,
 * PGlite: `{ rows }`).
 */
export async function queryRows<T>(db: Database, query: SQL): Promise<T[]> {
  const result: unknown = await db.execute(query);
  if (Array.isArray(result)) return result as T[];
  if (typeof result === "object" && result !== null && "rows" in result && Array.isArray(result.rows)) {
    return result.rows as T[];
  }
  throw new Error("queryRows: unexpected result shape from the database driver");
}

/**
 * The postgres.js transaction under a drizzle transaction `tx`, for what drizzle cannot say
 * (COPY); null on PGlite, and for anything that is not a postgres.js transaction.
 */
export function postgresTransaction(tx: Database): postgres.TransactionSql | null {
  const client: unknown = (tx as unknown as { session?: { client?: unknown } }).session?.client;
  if (typeof client !== "function") return null;
  const candidate = client as Partial<postgres.TransactionSql>;
  return typeof candidate.savepoint === "function" && typeof candidate.unsafe === "function"
    ? (client as postgres.TransactionSql)
    : null;
}

// --- Deadline for the wait on a pooled connection --------------------------------------------
//
// postgres.js queues a query that finds no idle connection forever (or pipelines it behind a
// busy one). A gate sized to the pool admits at most `poolMax` queries or transactions at once,
// so every admitted one gets a connection of its own, and one that is not admitted within the
// deadline fails instead of hanging. statement_timeout bounds the run itself while the server
// answers; a query (outside a transaction) whose answer does not come a second after that fails
// on the client side too, so a stopped or unreachable server cannot hold a request.

interface Gate {
  run<T>(work: () => PromiseLike<T>): Promise<T>;
}

function createGate(size: number, timeoutMs: number): Gate {
  let free = size;
  const waiting: Array<() => void> = [];

  const acquire = (): Promise<void> => {
    if (free > 0) {
      free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const admit = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const index = waiting.indexOf(admit);
        if (index >= 0) waiting.splice(index, 1);
        reject(
          new DatabaseBusyError(
            `no database connection free within ${timeoutMs} ms (pool of ${size}); the database is overloaded`,
          ),
        );
      }, timeoutMs);
      waiting.push(admit);
    });
  };

  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else free++;
  };

  return {
    async run(work) {
      await acquire();
      try {
        return await work();
      } finally {
        release();
      }
    },
  };
}

/**
 * The postgres.js client as drizzle sees it, with its two entry points gated: `unsafe` (every
 * drizzle query, failed after `deadlineMs` without an answer) and `begin` (a transaction holds
 * its connection, so one permit, until it ends). Queries inside a transaction use the
 * transaction's own client and are not gated again.
 */
function gated(client: postgres.Sql, gate: Gate, deadlineMs: number): postgres.Sql {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === "unsafe") {
        return (...args: Parameters<postgres.Sql["unsafe"]>) =>
          new GatedQuery(gate, deadlineMs, () => target.unsafe(...args));
      }
      if (property === "begin") {
        return (...args: unknown[]) => gate.run(() => Reflect.apply(target.begin, target, args));
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

/** The part of postgres.js's lazy PendingQuery that drizzle uses: `.values()` and awaiting it. */
class GatedQuery<T> implements PromiseLike<T> {
  #asValues = false;
  #result: Promise<T> | undefined;

  constructor(
    private readonly gate: Gate,
    private readonly deadlineMs: number,
    private readonly start: () => postgres.PendingQuery<postgres.Row[]>,
  ) {}

  values(): this {
    this.#asValues = true;
    return this;
  }

  // biome-ignore lint/suspicious/noThenProperty: drizzle awaits the query object, as postgres.js's own is a thenable
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.#result ??= new Promise<T>((resolve, reject) => {
      this.gate
        .run(() => {
          const query = this.start();
          const running = Promise.resolve(this.#asValues ? query.values() : query) as Promise<T>;
          // The caller hears at the deadline; the permit stays taken until the query really ends,
          // so the gate never admits more queries than the pool has connections.
          const timer = setTimeout(
            () =>
              reject(new DatabaseDeadlineError(`no answer from the database within ${this.deadlineMs} ms`)),
            this.deadlineMs,
          );
          return running.finally(() => clearTimeout(timer));
        })
        .then(resolve, reject);
    });
    return this.#result.then(onFulfilled, onRejected);
  }
}
