/**
 * `pnpm dev`: every part locally. The API with its ingest worker (embedded default unless
 * DATABASE_URL and REDIS_URL are set) and, when the edge worker exists, `wrangler dev` in front.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";

// The edge signs the batches it forwards; both sides need the same secret, made up for this run.
const secret = process.env.EDGE_SIGNING_SECRET ?? randomBytes(32).toString("hex");
const children = [
  spawn("pnpm", ["--filter", "@funnel/api", "start"], {
    stdio: "inherit",
    env: { ...process.env, EDGE_SIGNING_SECRET: secret },
  }),
];

/**
 * wrangler dev reads the edge's secrets from edge/.dev.vars (git-ignored), shown as "(hidden)" in
 * its log: not a --var, which any user on the machine sees in the process list and wrangler
 * prints. Written for this run, readable by its user only, removed when the run ends.
 */
const DEV_VARS = "edge/.dev.vars";
const MARK = "# Written by `pnpm dev` for this run, removed when it stops.";

function writeDevVars(): boolean {
  if (existsSync(DEV_VARS) && !readFileSync(DEV_VARS, "utf8").startsWith(MARK)) {
    console.error(
      `${DEV_VARS} exists and is not pnpm dev's: the edge is not started (move it away to run it).`,
    );
    return false;
  }
  // Made anew, so the mode holds whatever a previous run left.
  removeDevVars();
  writeFileSync(DEV_VARS, `${MARK}\nEDGE_SIGNING_SECRET="${secret}"\n`, { mode: 0o600, flag: "wx" });
  return true;
}

function removeDevVars(): void {
  if (existsSync(DEV_VARS) && readFileSync(DEV_VARS, "utf8").startsWith(MARK)) rmSync(DEV_VARS);
}

if ((existsSync("edge/wrangler.jsonc") || existsSync("edge/wrangler.toml")) && writeDevVars()) {
  process.on("exit", removeDevVars);
  // The edge's own environment does not carry the secret either.
  const { EDGE_SIGNING_SECRET: _, ...edgeEnv } = process.env;
  const api = ["--var", `API_URL:http://127.0.0.1:${process.env.PORT ?? 3000}`];
  children.push(
    spawn("pnpm", ["--filter", "@funnel/edge", "dev", ...api], { stdio: "inherit", env: edgeEnv }),
  );
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
