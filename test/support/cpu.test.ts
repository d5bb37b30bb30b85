import { spawn } from "node:child_process";
import { once } from "node:events";
import { testServices } from "@funnel/db/testing";
import postgres from "postgres";
import { describe, expect, it } from "vitest";
import { cpuPerUnit, runsHere, sampleCpu, serverOf } from "./cpu";

describe.runIf(process.platform === "linux")("bench CPU accounting", () => {
  it("reads a process's CPU time from /proc, and nothing for one that is gone", async () => {
    // Spins until it used 300 ms of CPU by its own count, then says so and idles.
    const child = spawn(
      process.execPath,
      [
        "-e",
        `while (process.cpuUsage().user < 300000) {}
        process.stdout.write("spun"); setTimeout(() => {}, 60000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      await once(child.stdout, "data");
      const pid = child.pid ?? 0;
      const sample = sampleCpu({ api: [pid], workers: [], redis: undefined, postmaster: undefined });
      expect(sample.api).toBeGreaterThanOrEqual(290);
      expect(sample.machine).toBeGreaterThan(sample.api);
    } finally {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
    const gone = sampleCpu({ api: [child.pid ?? 0], workers: [], redis: undefined, postmaster: undefined });
    expect(gone.api).toBe(0);
  });

  it("counts the database server's processes through its postmaster; a process that is no backend has none", async () => {
    const sql = postgres(testServices().databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
      const postmaster = serverOf(row?.pid ?? 0);
      expect(postmaster).toBeGreaterThan(0);
      const parts = { api: [], workers: [], redis: undefined, postmaster };
      const before = sampleCpu(parts);
      const started = process.hrtime.bigint();
      // A few hundred ms of the backend's CPU, nothing of this process's.
      await sql`select count(*) from generate_series(1, 5000000)`;
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      const used = sampleCpu(parts).database - before.database;
      expect(used).toBeGreaterThanOrEqual(Math.min(200, elapsedMs / 4));
      expect(serverOf(process.pid)).toBeUndefined();
      expect(runsHere(postmaster ?? 0, "postgres")).toBe(true);
      expect(runsHere(postmaster ?? 0, "redis-server")).toBe(false);
    } finally {
      await sql.end();
    }
  });

  it("gives microseconds per unit for each part, and the machine's unaccounted time as other", () => {
    const from = { api: 1_000, worker: 0, database: 500, redis: 0, bench: 20, machine: 10_000 };
    const to = { api: 1_100, worker: 50, database: 700, redis: 10, bench: 60, machine: 10_500 };
    expect(cpuPerUnit(from, to, 1_000)).toEqual({
      api: 100,
      worker: 50,
      database: 200,
      redis: 10,
      bench: 40,
      other: 100,
      all: 500,
    });
  });
});
