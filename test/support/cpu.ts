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
  /** The PostgreSQL server's postmaster: its processes are the database's part (else every PostgreSQL process). */
  postmaster?: number | undefined;
}

/** Milliseconds of CPU so far, per part; `database` is every PostgreSQL process, ended ones included. */
export type CpuSample = Record<"api" | "worker" | "database" | "redis" | "bench" | "machine", number>;

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime (+ cutime + cstime of waited-for children), in ms; 0 when the process is gone. */
function processMs(pid: number, children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command (field 2) may hold spaces: the fields after it start past its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks =
      Number(fields[11]) + Number(fields[12]) + (children ? Number(fields[13]) + Number(fields[14]) : 0);
    return (ticks * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/**
 * A PostgreSQL server's processes: the postmaster's own time and its ended children's, plus each
 * live child's. Without a postmaster, every PostgreSQL server's on the machine.
 */
function postgresMs(postmaster: number | undefined): number {
  let total = 0;
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue;
    }
    const command = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    if (command !== "postgres") continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (postmaster !== undefined) {
      if (Number(pid) === postmaster) total += processMs(postmaster, true);
      else if (Number(fields[1]) === postmaster) total += processMs(Number(pid));
      continue;
    }
    const parentIsPostgres = (() => {
      try {
        const parent = readFileSync(`/proc/${fields[1]}/stat`, "utf8");
        return parent.slice(parent.indexOf("(") + 1, parent.lastIndexOf(")")) === "postgres";
      } catch {
        return false;
      }
    })();
    // The postmaster (no postgres parent) also carries the time of the backends that ended.
    total += processMs(Number(pid), !parentIsPostgres);
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
