import { defineConfig } from "vitest/config";

/**
 * One run for the whole Node suite against real TimescaleDB and Redis. The global setup
 * provisions them (scripts/services) and prepares a migrated template database that each
 * test file clones. The edge worker has its own config (edge/vitest.config.ts), run in workerd.
 */
export default defineConfig({
  test: {
    globalSetup: ["./test/global-setup.ts"],
    include: ["{api,db,packages,test}/**/*.test.ts"],
    // test/reliability restarts and kills services: `pnpm test:faults` (vitest.faults.config.ts).
    exclude: ["**/node_modules/**", "edge/**", "test/reliability/**"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
