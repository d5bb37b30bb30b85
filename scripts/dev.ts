/**
 * `pnpm dev`: every part locally. The API with its ingest worker (embedded default unless
 * DATABASE_URL and REDIS_URL are set) and, when the edge worker exists, `wrangler dev` in front.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";

// The edge signs the batches it forwards; both sides need the same secret, made up for this run.
const env = {
  ...process.env,
  EDGE_SIGNING_SECRET: process.env.EDGE_SIGNING_SECRET ?? randomBytes(32).toString("hex"),
};
const children = [spawn("pnpm", ["--filter", "@funnel/api", "start"], { stdio: "inherit", env })];
if (existsSync("edge/wrangler.jsonc") || existsSync("edge/wrangler.toml")) {
  const vars = [
    `EDGE_SIGNING_SECRET:${env.EDGE_SIGNING_SECRET}`,
    `API_URL:http://127.0.0.1:${process.env.PORT ?? 3000}`,
  ].flatMap((v) => ["--var", v]);
  children.push(spawn("pnpm", ["--filter", "@funnel/edge", "dev", ...vars], { stdio: "inherit", env }));
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
