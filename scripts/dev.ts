/**
 * `pnpm dev`: every part locally. The API with its ingest worker (embedded default unless
 * DATABASE_URL and REDIS_URL are set) and, when the edge worker exists, `wrangler dev` in front.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

const children = [
  spawn("pnpm", ["--filter", "@funnel/api", "start"], { stdio: "inherit", env: process.env }),
];
if (existsSync("edge/wrangler.jsonc") || existsSync("edge/wrangler.toml")) {
  children.push(spawn("pnpm", ["--filter", "@funnel/edge", "dev"], { stdio: "inherit", env: process.env }));
}

const stop = (signal: NodeJS.Signals) => {
  for (const child of children) child.kill(signal);
};
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
for (const child of children) {
  child.on("exit", (code) => {
    stop("SIGTERM");
    process.exitCode = code ?? 0;
  });
}
