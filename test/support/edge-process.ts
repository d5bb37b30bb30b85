import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./api-process";
import { repoRoot } from "./services";

/**
 * The edge worker under `wrangler dev` (local workerd, with the local Durable Object and Queue),
 * for end-to-end tests and benchmarks. Its state lives in a temporary folder removed at stop.
 */
export interface EdgeProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

const node = resolve(repoRoot, "node_modules/.bin/node");
const edgeDir = resolve(repoRoot, "edge");

/** Builds t.js (packages/tracker/dist) that the worker serves. */
export function buildTracker(): string {
  return execFileSync(node, ["--import", "tsx", resolve(repoRoot, "packages/tracker/build.ts")], {
    cwd: repoRoot,
    encoding: "utf8",
  });
}

export async function startEdge(vars: Record<string, string>, options: { readyTimeoutMs?: number } = {}) {
  buildTracker();
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "funnel-edge-"));
  const args = [
    resolve(edgeDir, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(await freePort()),
    "--persist-to",
    state,
    "--show-interactive-dev-session=false",
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  // Its own process group, so that stopping it also stops the workerd it started.
  const child = spawn(node, args, {
    cwd: edgeDir,
    detached: true,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      WRANGLER_SEND_METRICS: "false",
      CI: "true",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((done) => {
      const finish = () => {
        rmSync(state, { recursive: true, force: true });
        done();
      };
      if (child.exitCode !== null || child.pid === undefined) return finish();
      child.once("exit", finish);
      process.kill(-child.pid, "SIGTERM");
      setTimeout(() => {
        if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      }, 5_000).unref();
    });
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${url}/t.js`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev not ready in time:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const edge: EdgeProcess = { url, child, output: () => log, stop };
  return edge;
}
