import { setPriority } from "node:os";
import { serve } from "@hono/node-server";
import { boot } from "./boot";
import { runKeyCommand } from "./cli/key-commands";
import { type KeySocket, keySocketPath, serveKeyCommands } from "./cli/key-socket";
import { ConfigError, isEmbedded, loadConfig } from "./config";
import { seedDemo } from "./demo/seed";
import { demoTryLines } from "./demo/try-calls";
import type { Deps } from "./deps";

/** The API process: HTTP routes and, unless RUN_WORKER=false, the ingest worker. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const runtime = await boot(config);
  const { logger } = runtime.deps;
  if (!config.RUN_API && config.RUN_WORKER && config.WORKER_NICE > 0) {
    // A worker-only process yields the CPU to the processes answering requests on the same host:
    // its queue absorbs the delay, a request cannot.
    try {
      setPriority(config.WORKER_NICE);
    } catch (error) {
      logger.warn({ err: error, nice: config.WORKER_NICE }, "could not lower the worker's priority");
    }
  }

  const server = config.RUN_API
    ? serve({ fetch: runtime.app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
        logger.info({ port: info.port, embedded: isEmbedded(config) }, "listening");
      })
    : undefined;

  // The embedded database is this process's alone: `pnpm keys:*` send their commands here.
  const keySocket = isEmbedded(config) ? await serveKeys(runtime.deps) : undefined;

  if (isEmbedded(config) && config.SEED_DEMO) {
    const demo = await seedDemo(runtime.deps);
    // Printed, not logged: the one place a key is shown, so a newcomer can call the API at once.
    console.log(`\nDemo account ${demo.accountId}: ${demo.events} demo events queued.`);
    for (const line of demoTryLines(demo.apiKey, `http://localhost:${config.PORT}`)) console.log(line);
    console.log(`Demo API key:\n${demo.apiKey}`);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: no new requests, finishing queued work");
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await keySocket?.close();
    await runtime.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

async function serveKeys(deps: Deps): Promise<KeySocket | undefined> {
  const path = keySocketPath(deps.config);
  try {
    return await serveKeyCommands(path, (command) => runKeyCommand(deps, command), deps.logger);
  } catch (error) {
    // The API runs without it; the key commands then refuse, naming this process.
    deps.logger.warn({ err: error, path }, "cannot serve key commands: pnpm keys:* refuse while this runs");
    return undefined;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
