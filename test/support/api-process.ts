import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { repoRoot } from "./services";

/** The real API process, started as production starts it, for end-to-end tests and benchmarks. */
export interface ApiProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

export async function startApi(
  env: Record<string, string>,
  options: {
    readyTimeoutMs?: number /** A worker-only process (RUN_API=false) has no HTTP to wait for. */;
    waitReady?: boolean;
  } = {},
) {
  const port = Number(env.PORT ?? (await freePort()));
  // This Node binary itself with tsx as a loader (no launcher or shim script in between): signals reach the API process directly,
  // so SIGKILL really kills it and SIGTERM exercises its own graceful shutdown.
  const child = spawn(process.execPath, ["--import", "tsx", resolve(repoRoot, "api/src/main.ts")], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      LOG_LEVEL: "warn",
      ...env,
      PORT: String(port),
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
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (; options.waitReady !== false; ) {
    if (child.exitCode !== null) throw new Error(`API exited with ${child.exitCode}:\n${log}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`API not ready in time:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const api: ApiProcess = {
    url,
    child,
    output: () => log,
    stop: (signal = "SIGTERM") =>
      new Promise((done) => {
        // Exited already (a code), or killed by a signal (no code, a signalCode): nothing to wait for.
        if (child.exitCode !== null || child.signalCode !== null) return done(child.exitCode);
        child.once("exit", (code) => done(code));
        child.kill(signal);
      }),
  };
  return api;
}
