import { execFile, execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";
import { repoRoot, withDatabase } from "./services";

/**
 * A TimescaleDB cluster of the fault-injection suite's own: `scripts/services/timescaledb.sh` with
 * another `TSDB_PORT` runs a second cluster (its own data directory) from the same chroot, so the
 * suite can stop and start it while other test runs use the shared one on the default port.
 */
export interface DedicatedCluster {
  /** `postgres://…/postgres` of the dedicated cluster. */
  adminUrl: string;
  port: number;
  /** `pg_ctl stop -m fast`: open connections are terminated, the cluster shuts down cleanly. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export function dedicatedCluster(): DedicatedCluster {
  const port = Number(process.env.FAULTS_TSDB_PORT ?? 55433);
  const script = resolve(repoRoot, "scripts/services/timescaledb.sh");
  const env = { ...process.env, TSDB_PORT: String(port) };
  execFileSync("bash", [script, "start"], { env, stdio: ["ignore", "ignore", "inherit"] });
  // Asynchronous, so a test's load keeps running while the cluster stops and starts.
  const run = async (command: "start" | "stop") => {
    await promisify(execFile)("bash", [script, command], { env });
  };
  return {
    adminUrl: execFileSync("bash", [script, "url"], { env, encoding: "utf8" }).trim(),
    port,
    stop: () => run("stop"),
    start: () => run("start"),
  };
}

export interface FaultsDatabase {
  url: string;
  /** An API key of a new account, created with the CLI (which also migrates the database). */
  key: string;
  drop(): Promise<void>;
}

/** A new, migrated database on the cluster with an account and its API key. */
export async function createFaultsDatabase(
  cluster: DedicatedCluster,
  redisUrl: string,
): Promise<FaultsDatabase> {
  const name = `faults_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const admin = postgres(cluster.adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(cluster.adminUrl, name);
  const out = execFileSync(
    resolve(repoRoot, "node_modules/.bin/tsx"),
    ["api/src/cli/keys-create.ts", randomUUID()],
    {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "", DATABASE_URL: url, REDIS_URL: redisUrl },
      encoding: "utf8",
    },
  );
  return {
    url,
    key: out.trim().split("\n").pop() ?? "",
    async drop() {
      const sql = postgres(cluster.adminUrl, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await sql.end();
      }
    },
  };
}
