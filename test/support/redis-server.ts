import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./api-process";

const run = promisify(execFile);

export type Appendfsync = "everysec" | "always";

/**
 * A Redis server of a test's own, configured as the README tells operators to (append-only file,
 * `noeviction`, no RDB snapshots), on a free port with its own folder, so it can be shut down,
 * killed and started again on the same port and files without touching the shared Redis.
 */
export interface RedisServer {
  url: string;
  port: number;
  appendfsync: Appendfsync;
  /** Starts the server (again), loading its append-only file; resolves once it answers PING. */
  start(): Promise<void>;
  /** `SHUTDOWN`: Redis writes and syncs its append-only file and exits. */
  shutdown(): Promise<void>;
  /** SIGKILL: no chance to write anything more. */
  kill(): Promise<void>;
  /** SIGSTOP: the process stays, its connections stay open, nothing is answered until `resume`. */
  pause(): void;
  /** SIGCONT after `pause` (harmless when not paused or not running). */
  resume(): void;
  /** Stops the server and deletes its folder. */
  remove(): Promise<void>;
}

export async function startRedisServer(options: { appendfsync: Appendfsync }): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "funnel-faults-redis-"));
  let child: ChildProcess | undefined;

  const exited = (process: ChildProcess) =>
    new Promise<void>((done) => {
      if (process.exitCode !== null || process.signalCode !== null) return done();
      process.once("exit", () => done());
    });

  const ping = async () => {
    try {
      const { stdout } = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "ping"]);
      return stdout.trim() === "PONG";
    } catch {
      return false;
    }
  };

  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    appendfsync: options.appendfsync,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) {
        throw new Error("redis-server is already running");
      }
      child = spawn(
        "redis-server",
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--dir",
          dir,
          "--logfile",
          join(dir, "redis.log"),
          "--appendonly",
          "yes",
          "--appendfsync",
          options.appendfsync,
          "--maxmemory-policy",
          "noeviction",
          "--save",
          "",
        ],
        { stdio: "ignore" },
      );
      const started = child;
      const failed = new Promise<never>((_, reject) => {
        started.once("error", reject);
        started.once("exit", (code) => reject(new Error(`redis-server exited with ${code} (log: ${dir})`)));
      });
      const deadline = Date.now() + 30_000;
      const ready = (async () => {
        while (!(await ping())) {
          if (Date.now() > deadline) throw new Error(`redis-server not answering on ${port} (log: ${dir})`);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await Promise.race([ready, failed]);
      failed.catch(() => {});
    },
    async shutdown() {
      const current = child;
      if (!current) return;
      await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "shutdown"]).catch(() => {});
      await exited(current);
    },
    async kill() {
      const current = child;
      if (!current) return;
      current.kill("SIGKILL");
      await exited(current);
    },
    pause() {
      if (!child || child.exitCode !== null || child.signalCode !== null) {
        throw new Error("redis-server is not running");
      }
      child.kill("SIGSTOP");
    },
    resume() {
      if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGCONT");
    },
    async remove() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
