import { randomBytes, randomUUID } from "node:crypto";
import postgres from "postgres";
import { afterAll, beforeAll, inject } from "vitest";
import { createDatabase, type Database, type DatabaseHandle } from "./client";
import { migrate } from "./migrate";
import { storageKind } from "./partitions";
import { accounts, funnels } from "./schema";

/**
 * Test databases on the real TimescaleDB server that test/global-setup.ts provisions. The global
 * setup migrates TEMPLATE_DATABASE once per run; each test file clones it (fast, no migrations).
 * Nothing here skips when the server is missing: it fails.
 */

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin URL (database `postgres`) of the test TimescaleDB server. */
    databaseUrl: string;
    /** Redis of the test run; namespace keys or flush per suite. */
    redisUrl: string;
  }
}

export const TEMPLATE_DATABASE = "funnel_template";
/** Test databases are named `t_<created, base-36 seconds>_<random>`; stale ones are swept. */
const TEST_DATABASE_PREFIX = "t_";
const STALE_AFTER_SECONDS = 6 * 60 * 60;
/** Advisory lock (in database `postgres`): rebuilding the template excludes cloning it. */
const TEMPLATE_LOCK = [4004, 1] as const;

export interface TestServices {
  databaseUrl: string;
  redisUrl: string;
}

export interface TestDatabase {
  handle: DatabaseHandle;
  /** URL of this database, e.g. for an API process started by the test. */
  url: string;
  /** Closes the handle and drops the database. */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** false: an empty database with funnel.timescaledb = 'off', migrated (native partitions). */
  timescale?: boolean;
  poolMax?: number;
  statementTimeoutMs?: number;
}

/** The URLs the global setup provides; throws outside a vitest run that has it. */
export function testServices(): TestServices {
  const databaseUrl = inject("databaseUrl");
  const redisUrl = inject("redisUrl");
  if (!databaseUrl || !redisUrl) {
    throw new Error(
      "no test services: run tests with vitest from the repo root (globalSetup test/global-setup.ts)",
    );
  }
  return { databaseUrl, redisUrl };
}

/** A fresh database of its own: a clone of the migrated template, or (timescale: false) the plain-PostgreSQL path. */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const { databaseUrl } = testServices();
  const timescale = options.timescale ?? true;
  const name = `${TEST_DATABASE_PREFIX}${Math.floor(Date.now() / 1000).toString(36)}_${randomBytes(5).toString("hex")}`;

  await withAdmin(databaseUrl, async (admin) => {
    if (timescale) {
      await admin`select pg_advisory_lock_shared(${TEMPLATE_LOCK[0]}, ${TEMPLATE_LOCK[1]})`;
      try {
        await admin.unsafe(`create database ${name} template ${TEMPLATE_DATABASE}`);
      } finally {
        await admin`select pg_advisory_unlock_shared(${TEMPLATE_LOCK[0]}, ${TEMPLATE_LOCK[1]})`;
      }
    } else {
      await admin.unsafe(`create database ${name}`);
      await admin.unsafe(`alter database ${name} set funnel.timescaledb = 'off'`);
    }
  });

  const url = databaseUrlFor(databaseUrl, name);
  const handle = await createDatabase({
    url,
    poolMax: options.poolMax ?? 4,
    statementTimeoutMs: options.statementTimeoutMs ?? 30_000,
    applicationName: "funnel-test",
  });
  if (timescale) handle.kind = await storageKind(handle.db);
  else await migrate(handle);

  return {
    handle,
    url,
    drop: async () => {
      await handle.close();
      await withAdmin(databaseUrl, (admin) => admin.unsafe(`drop database if exists ${name} with (force)`));
    },
  };
}

/** An in-memory PGlite database, migrated: the embedded default's driver. */
export async function createTestPglite(): Promise<DatabaseHandle> {
  const handle = await createDatabase({ dataDir: "memory://" });
  await migrate(handle);
  return handle;
}

/**
 * A TimescaleDB database and an embedded PGlite one for the calling test file: made before its
 * tests, dropped after. `engines` lists both by name, for `describe.each`.
 */
export function bothEngines(): {
  timescale: () => TestDatabase;
  pglite: () => DatabaseHandle;
  engines: [name: string, db: () => Database][];
} {
  let timescale: TestDatabase | undefined;
  let pglite: DatabaseHandle | undefined;
  beforeAll(async () => {
    [timescale, pglite] = await Promise.all([createTestDatabase(), createTestPglite()]);
  });
  afterAll(async () => {
    await Promise.all([timescale?.drop(), pglite?.close()]);
  });
  const made = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("bothEngines: used before the file's beforeAll");
    return value;
  };
  return {
    timescale: () => made(timescale),
    pglite: () => made(pglite),
    engines: [
      ["TimescaleDB", () => made(timescale).handle.db],
      ["PGlite", () => made(pglite).db],
    ],
  };
}

/** A new account with one funnel, as the query tests start from. */
export async function createShop(db: Database): Promise<{ accountId: string; funnelId: string }> {
  const accountId = randomUUID();
  const funnelId = randomUUID();
  await db.insert(accounts).values({ id: accountId, name: "Shop" });
  await db.insert(funnels).values({ id: funnelId, accountId, name: "Checkout" });
  return { accountId, funnelId };
}

/**
 * For the global setup: drops and recreates the template database from the migrations, and
 * sweeps test databases left by crashed runs. Fails unless the result is a TimescaleDB hypertable.
 */
export async function prepareTemplateDatabase(adminUrl: string): Promise<void> {
  await withAdmin(adminUrl, async (admin) => {
    await admin`select pg_advisory_lock(${TEMPLATE_LOCK[0]}, ${TEMPLATE_LOCK[1]})`;
    try {
      await dropStaleTestDatabases(admin);
      const [existing] = await admin`select 1 from pg_database where datname = ${TEMPLATE_DATABASE}`;
      if (existing) {
        await admin.unsafe(`alter database ${TEMPLATE_DATABASE} with is_template false`);
        await admin.unsafe(`drop database ${TEMPLATE_DATABASE} with (force)`);
      }
      await admin.unsafe(`create database ${TEMPLATE_DATABASE}`);

      const handle = await createDatabase({
        url: databaseUrlFor(adminUrl, TEMPLATE_DATABASE),
        poolMax: 1,
        statementTimeoutMs: 120_000,
        applicationName: "funnel-test-template",
      });
      try {
        await migrate(handle);
      } finally {
        await handle.close();
      }
      if (handle.kind !== "timescaledb") {
        throw new Error(
          `${TEMPLATE_DATABASE}: analytics_events is not a hypertable (${handle.kind}); is TimescaleDB installed?`,
        );
      }

      // A clone needs a template nobody is connected to; TimescaleDB's background scheduler
      // connects to every database with the extension unless connections are refused.
      await admin.unsafe(`alter database ${TEMPLATE_DATABASE} with is_template true allow_connections false`);
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${TEMPLATE_DATABASE}`;
    } finally {
      await admin`select pg_advisory_unlock(${TEMPLATE_LOCK[0]}, ${TEMPLATE_LOCK[1]})`;
    }
  });
}

async function dropStaleTestDatabases(admin: postgres.Sql): Promise<void> {
  const rows = await admin<{ datname: string }[]>`
    select datname from pg_database where datname like ${`${TEST_DATABASE_PREFIX}%`}`;
  const now = Date.now() / 1000;
  for (const { datname } of rows) {
    const created = Number.parseInt(datname.slice(TEST_DATABASE_PREFIX.length).split("_")[0] ?? "", 36);
    if (Number.isFinite(created) && now - created > STALE_AFTER_SECONDS) {
      await admin.unsafe(`drop database if exists ${datname} with (force)`);
    }
  }
}

async function withAdmin<T>(url: string, work: (admin: postgres.Sql) => Promise<T>): Promise<T> {
  // One connection, so session-level advisory locks taken in `work` hold across its statements.
  const admin = postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: "funnel-test-admin" },
  });
  try {
    return await work(admin);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

function databaseUrlFor(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
