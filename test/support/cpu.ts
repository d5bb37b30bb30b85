import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/**
 * CPU time spent by the parts of a benchmark, from Linux's /proc (elsewhere every figure is 0):
 * what each process costs per event says where a faster build has to save, which the events/s
 * alone cannot.
 */
export interface CpuParts {
  api: number[];
  workers: number[];
  redis: number | undefined;
  /** The database server's postmaster (`serverOf`): its processes are the database's part. */
  postmaster: number | undefined;
}

/** Milliseconds of CPU so far, per part; `database` counts the server's ended backends too. */
export type CpuSample = Record<"api" | "worker" | "database" | "redis" | "bench" | "machine", number>;

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A process's command and the fields of /proc/<pid>/stat after it (from the state on); none when gone. */
function readStat(pid: number): { command: string; fields: string[] } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command may hold spaces and parentheses: the fields after it start past its last ")".
    const close = stat.lastIndexOf(")");
    return { command: stat.slice(stat.indexOf("(") + 1, close), fields: stat.slice(close + 2).split(" ") };
  } catch {
    return undefined;
  }
}

/** utime + stime (+ cutime + cstime of waited-for children), in ms; 0 when the process is gone. */
function processMs(pid: number, children = false): number {
  const f = readStat(pid)?.fields;
  if (!f) return 0;
  const ticks = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/**
 * Whether `pid` is a process of this machine running `command`: a server on another machine
 * reports a pid that here may belong to anything, or to nothing.
 */
export function runsHere(pid: number, command: string): boolean {
  return readStat(pid)?.command === command;
}

/**
 * The postmaster of the PostgreSQL server a backend (`pg_backend_pid()`) belongs to, when that
 * server runs on this machine.
 */
export function serverOf(backendPid: number): number | undefined {
  if (!runsHere(backendPid, "postgres")) return undefined;
  const parent = Number(readStat(backendPid)?.fields[1]);
  return runsHere(parent, "postgres") ? parent : undefined;
}

/** A server's processes: the postmaster's own time and its ended children's, plus each live child's. */
function postgresMs(postmaster: number | undefined): number {
  if (postmaster === undefined) return 0;
  let total = processMs(postmaster, true);
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    if (readStat(Number(name))?.fields[1] === String(postmaster)) total += processMs(Number(name));
  }
  return total;
}

/** All CPUs' busy time (everything but idle and iowait), in ms. */
function machineMs(): number {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (
      (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) /
      TICKS_PER_SECOND
    );
  } catch {
    return 0;
  }
}

export function sampleCpu(parts: CpuParts): CpuSample {
  const own = process.cpuUsage();
  return {
    api: parts.api.reduce((sum, pid) => sum + processMs(pid), 0),
    worker: parts.workers.reduce((sum, pid) => sum + processMs(pid), 0),
    database: postgresMs(parts.postmaster),
    redis: parts.redis === undefined ? 0 : processMs(parts.redis),
    bench: (own.user + own.system) / 1000,
    machine: machineMs(),
  };
}

/**
 * CPU microseconds per unit (event or request) between two samples, per part, and `other`: the
 * machine's busy time no part accounts for (the kernel's network work, other processes).
 */
export function cpuPerUnit(from: CpuSample, to: CpuSample, units: number): Record<string, number> {
  const per = (key: keyof CpuSample) => Math.round(((to[key] - from[key]) * 1000) / Math.max(1, units));
  const parts = {
    api: per("api"),
    worker: per("worker"),
    database: per("database"),
    redis: per("redis"),
    bench: per("bench"),
  };
  const machine = per("machine");
  const accounted = Object.values(parts).reduce((sum, v) => sum + v, 0);
  return { ...parts, other: Math.max(0, machine - accounted), all: machine };
}
