import { defineConfig } from "vitest/config";

/**
 * `pnpm test:faults`: fault injection and the 5-minute load run (test/reliability/). Real API,
 * worker, Redis and TimescaleDB processes that the files restart and kill, so one file at a time
 * and not part of `pnpm test`. Each file starts its own Redis servers and uses the suite's own
 * TimescaleDB cluster (scripts/services/timescaledb.sh with TSDB_PORT, default 55433).
 */
export default defineConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    fileParallelism: false,
    maxWorkers: 1,
    pool: "forks",
    testTimeout: 900_000,
    hookTimeout: 180_000,
  },
});
