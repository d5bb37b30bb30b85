import { defineConfig } from "drizzle-kit";

/**
 * Only `drizzle-kit generate` reads this (never `push`): it diffs the schema against the last
 * snapshot in drizzle/meta and writes a named SQL migration. Applying is `src/migrate.ts`.
 */
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/schema/index.ts",
  out: "./drizzle",
  strict: true,
  verbose: true,
});
