/** `pnpm bench <name>` runs test/bench/<name>.ts; with no name it lists them. */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { resolve } from "node:path";

const dir = resolve(import.meta.dirname, "../test/bench");
const names = readdirSync(dir)
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.replace(/\.ts$/, ""));
const name = process.argv[2];
if (!name || !existsSync(resolve(dir, `${name}.ts`))) {
  console.error(`usage: pnpm bench <${names.join("|")}>`);
  process.exit(name ? 1 : 0);
}
const run = spawnSync(
  resolve(import.meta.dirname, "../node_modules/.bin/tsx"),
  [resolve(dir, `${name}.ts`)],
  {
    stdio: "inherit",
  },
);
process.exit(run.status ?? 1);
