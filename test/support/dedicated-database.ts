import { execFile, execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
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
  /**
   * SIGSTOP every process of this cluster, and of no other: its postmaster first (so it forks no
   * more), then every process the postmaster has started (backends, checkpointer, walwriter,
   * autovacuum, TimescaleDB's workers). Connections stay open and nothing answers until `resume`.
   * Returns how many processes were paused.
   */
  pause(): Promise<number>;
  /** SIGCONT to the processes `pause` stopped (harmless when nothing is paused). */
  resume(): void;
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
  const adminUrl = execFileSync("bash", [script, "url"], { env, encoding: "utf8" }).trim();
  let paused: number[] = [];
  const resume = () => {
    // The postmaster last, so none of its children finds it running while they are still stopped.
    for (const pid of [...paused].reverse()) signal(pid, "SIGCONT");
    paused = [];
  };
  return {
    adminUrl,
    port,
    stop: () => run("stop"),
    start: () => run("start"),
    async pause() {
      if (paused.length > 0) throw new Error("the cluster is already paused");
      const postmaster = postmasterOf(port);
      // Proof that this postmaster is the one serving this port: a backend of ours is its child.
      const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
        if (!row || parentOf(row.pid) !== postmaster) {
          throw new Error(`backend ${row?.pid} on port ${port} is not a child of postmaster ${postmaster}`);
        }
      } finally {
        await sql.end();
      }
      signal(postmaster, "SIGSTOP");
      paused = [postmaster];
      for (const pid of processes()) {
        if (parentOf(pid) === postmaster && signal(pid, "SIGSTOP")) paused.push(pid);
      }
      return paused.length;
    },
    resume,
  };
}

/** Pids of the machine's processes (the chroot shares the host's process namespace). */
function processes(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** The parent pid of a process (`/proc/<pid>/stat`), or undefined once it has exited. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After the command name in parentheses (which may itself hold spaces): state, then ppid.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/**
 * The postmaster of the cluster on `port`: `postgres -D …/funnel-<port>` (the data directory
 * scripts/services/timescaledb.sh gives each port). Never the shared cluster's (55432).
 */
function postmasterOf(port: number): number {
  if (port === 55432) throw new Error("refusing to touch the shared TimescaleDB cluster (55432)");
  const found: number[] = [];
  for (const pid of processes()) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    const data = args[args.indexOf("-D") + 1];
    if (basename(args[0] ?? "") === "postgres" && args.includes("-D") && data) {
      if (basename(data) === `funnel-${port}`) found.push(pid);
    }
  }
  if (found.length !== 1 || found[0] === undefined) {
    throw new Error(`expected one postmaster of funnel-${port}, found ${JSON.stringify(found)}`);
  }
  return found[0];
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false; // exited meanwhile
  }
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
