import { chmod, rm } from "node:fs/promises";
import { createConnection, createServer, type Socket } from "node:net";
import { resolve } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config";
import { type KeyCommand, type KeyReply, keyCommand, keyReply } from "./key-commands";

/**
 * The way into a running API on the embedded default for `pnpm keys:*`. That API holds the PGlite
 * data directory (no other process may open it), so it carries out their commands itself, on a
 * Unix socket in that directory that only its user can open. One JSON line each way: the command,
 * then its outcome once it is written (or failed).
 */

/** Where the API holding the embedded database listens for key commands. */
export function keySocketPath(config: Pick<Config, "DATA_DIR">): string {
  return resolve(config.DATA_DIR, "pglite", "keys.sock");
}

/** A command and its outcome are a few hundred bytes; anything longer is not ours. */
const MAX_LINE_BYTES = 4096;
const SERVER_IDLE_MS = 10_000;
/** A create migrates nothing and writes two rows: a minute is the API being stuck, not slow. */
const CLIENT_TIMEOUT_MS = 60_000;

export interface KeySocket {
  /** Stops listening, lets the commands in hand finish, removes the socket file. */
  close(): Promise<void>;
}

export async function serveKeyCommands(
  path: string,
  run: (command: KeyCommand) => Promise<KeyReply>,
  logger: Logger,
): Promise<KeySocket> {
  const answer = async (line: string): Promise<KeyReply> => {
    const parsed = keyCommand.safeParse(parseJson(line));
    if (!parsed.success) return { outcome: "failed", message: "not a key command" };
    try {
      return await run(parsed.data);
    } catch (error) {
      logger.error({ err: error, command: parsed.data.command }, "key command failed");
      return { outcome: "failed", message: "the API could not carry out the command (see its log)" };
    }
  };
  const server = createServer((socket) => {
    socket.setTimeout(SERVER_IDLE_MS, () => socket.destroy());
    socket.on("error", () => socket.destroy());
    void readLine(socket).then(async (line) => {
      if (line === undefined) return socket.destroy();
      socket.end(`${JSON.stringify(await answer(line))}\n`);
    });
  });
  // This process holds the data directory, so a socket file there is a dead holder's.
  await rm(path, { force: true });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(path, () => {
      server.off("error", fail);
      done();
    });
  });
  await chmod(path, 0o600);
  return {
    close: async () => {
      await new Promise<void>((done) => server.close(() => done()));
      await rm(path, { force: true });
    },
  };
}

/** Nothing listens on the socket: no API holds the directory, or it has not started serving. */
export class NoKeySocketError extends Error {
  override name = "NoKeySocketError";
}

/** Sends `command` to the API listening on `path` and waits for its outcome. */
export function sendKeyCommand(path: string, command: KeyCommand): Promise<KeyReply> {
  return new Promise((done, fail) => {
    let connected = false;
    const socket = createConnection(path);
    socket.setTimeout(CLIENT_TIMEOUT_MS, () =>
      socket.destroy(new Error(`no answer within ${CLIENT_TIMEOUT_MS / 1000} s`)),
    );
    socket.on("error", (error) => {
      if (!connected) fail(new NoKeySocketError(`nothing answers on ${path}`, { cause: error }));
    });
    socket.on("connect", () => {
      connected = true;
      socket.write(`${JSON.stringify(command)}\n`);
      void readLine(socket).then((line) => {
        socket.destroy();
        const reply = keyReply.safeParse(parseJson(line ?? ""));
        if (reply.success) return done(reply.data);
        // Sent but not answered: the API may have made the change or not, and must not be said to have.
        fail(
          new Error(`the running API took the command but sent no outcome (${path}): check before retrying`),
        );
      });
    });
  });
}

/** The first line the peer sends, or undefined if it closes, fails or sends too much first. */
function readLine(socket: Socket): Promise<string | undefined> {
  return new Promise((done) => {
    let buffered = "";
    socket.setEncoding("utf8");
    const onData = (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf("\n");
      if (end >= 0) finish(buffered.slice(0, end));
      else if (buffered.length > MAX_LINE_BYTES) finish(undefined);
    };
    const finish = (line: string | undefined) => {
      socket.off("data", onData);
      socket.off("close", onClose);
      done(line);
    };
    const onClose = () => finish(undefined);
    socket.on("data", onData);
    socket.once("close", onClose);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
