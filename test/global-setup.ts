import { prepareTemplateDatabase } from "@funnel/db/testing";
import type { TestProject } from "vitest/node";
import { servicesUp } from "./support/services";

/**
 * Once per `vitest run`: provisions TimescaleDB and Redis (scripts/services/up.sh, as CI does),
 * migrates the template database that test files clone (`createTestDatabase` in
 * @funnel/db/testing), and hands the URLs to test files as `inject("databaseUrl" | "redisUrl")`.
 * A missing service fails the run; nothing is skipped.
 */
export default async function setup(project: TestProject): Promise<void> {
  const { databaseUrl, redisUrl } = servicesUp();
  await prepareTemplateDatabase(databaseUrl);
  project.provide("databaseUrl", databaseUrl);
  project.provide("redisUrl", redisUrl);
}
