/**
 * `pnpm dev`: every part locally. The API with its ingest worker (embedded default unless
 * DATABASE_URL and REDIS_URL are set) and, when the edge worker exists, `wrangler dev` in front.
 *
 * Ctrl-C (SIGINT), SIGTERM or SIGHUP stops every part and ends with 0, quietly. Each part runs in a
 * process group of its own, so the signal reaches each of its processes once, sent from here, and
 * this script waits until every process of every part is gone: the prompt comes back after the
 * API has finished its queued work, with nothing left running. A part that ends on its own stops
 * the others, and the run ends with that part's exit code.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";

interface Part {
  name: string;
  child: ChildProcess;
  /** Resolves once no process of the part's group is left. */
  gone: Promise<void>;
}

const parts: Part[] = [];
/** When the parts were asked to stop. */
let stoppedAt: number | undefined;

/** A package script, through pnpm without its banners and error summaries (the part's own output stays). */
function start(name: string, args: string[], env: NodeJS.ProcessEnv): void {
  const child = spawn("pnpm", ["--silent", ...args], {
    // Not the terminal's input: a background process group reading it would be stopped.
    stdio: ["ignore", "inherit", "inherit"],
    env,
    detached: true,
  });
  const gone = new Promise<void>((resolve) => {
    child.once("error", (error) => {
      console.error(`pnpm dev: cannot start ${name}: ${error.message}`);
      process.exitCode = 1;
      stop("SIGTERM");
      resolve();
    });
    child.once("exit", (code, signal) => {
      if (stoppedAt === undefined) {
        console.error(`pnpm dev: ${name} ended (${signal ?? `exit code ${code}`}); stopping the rest.`);
        process.exitCode = code ?? 1;
        stop("SIGTERM");
      }
      void groupGone(child).then(resolve);
    });
  });
  parts.push({ name, child, gone });
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals | 0): boolean {
  if (child.pid === undefined) return false;
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    return false; // no process of the group is left
  }
}

async function groupGone(child: ChildProcess): Promise<void> {
  while (signalGroup(child, 0)) await new Promise((r) => setTimeout(r, 100));
}

/** The first signal asks every part to stop; another one, while they stop, kills them. */
function stop(signal: NodeJS.Signals): void {
  // One Ctrl-C arrives from the terminal and again from pnpm, which passes it on: a repeat within
  // a second is the same one.
  if (stoppedAt !== undefined && Date.now() - stoppedAt < 1000) return;
  const again = stoppedAt !== undefined;
  stoppedAt ??= Date.now();
  for (const part of parts) signalGroup(part.child, again ? "SIGKILL" : signal);
}

// The edge signs the batches it forwards; both sides need the same secret, made up for this run.
const secret = process.env.EDGE_SIGNING_SECRET ?? randomBytes(32).toString("hex");
start("the API", ["--filter", "@funnel/api", "start"], { ...process.env, EDGE_SIGNING_SECRET: secret });

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
  start("the edge", ["--filter", "@funnel/edge", "dev", ...api], {
    ...edgeEnv,
    // Local development needs nothing from Cloudflare: the placeholder Request.cf instead of one
    // fetched from workers.cloudflare.com (a warning and a stack trace when offline), no telemetry.
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
  });
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => stop(signal));
// Should this script die of an error, its parts, in groups of their own, must not outlive it.
process.on("exit", () => {
  for (const part of parts) signalGroup(part.child, "SIGTERM");
});

await Promise.all(parts.map((part) => part.gone));
