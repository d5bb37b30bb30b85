import { mkdtemp, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDatabase, type DatabaseHandle } from "@funnel/db/client";
import { migrate } from "@funnel/db/migrate";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticate } from "../services/keys/authenticate";
import { KeyCache } from "../services/keys/key-cache";
import { runKeyCommand } from "./key-commands";
import { NoKeySocketError, sendKeyCommand, serveKeyCommands } from "./key-socket";

const logger = pino({ level: "silent" });
let dir: string;
let database: DatabaseHandle;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "funnel-key-socket-"));
  database = await createDatabase({ dataDir: "memory://" });
  await migrate(database);
}, 120_000);
afterAll(async () => {
  await database?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the key commands socket", () => {
  it("carries out a command in the serving process and answers after the write, its user alone may connect", async () => {
    const keys = new KeyCache();
    const path = join(dir, "keys.sock");
    const socket = await serveKeyCommands(
      path,
      (command) => runKeyCommand({ database, keys }, command),
      logger,
    );
    try {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const accountId = crypto.randomUUID();
      const created = await sendKeyCommand(path, { command: "create", accountId, name: "over the socket" });
      if (created.outcome !== "created") throw new Error(`not created: ${JSON.stringify(created)}`);
      expect(await authenticate({ database, keys }, created.key)).toMatchObject({ accountId });

      expect(await sendKeyCommand(path, { command: "revoke", accountId, key: created.key })).toEqual({
        outcome: "revoked",
      });
      await expect(authenticate({ database, keys }, created.key)).rejects.toThrow();
      expect(await sendKeyCommand(path, { command: "revoke", accountId, key: created.keyId })).toEqual({
        outcome: "not_found",
      });
    } finally {
      await socket.close();
    }
    // Closed: the file is gone and nothing answers.
    await expect(stat(path)).rejects.toThrow();
    await expect(
      sendKeyCommand(path, { command: "revoke", accountId: crypto.randomUUID(), key: "x" }),
    ).rejects.toThrow(NoKeySocketError);
  });

  it("answers what is not a key command with a failure, changing nothing", async () => {
    const path = join(dir, "strict.sock");
    let ran = 0;
    const socket = await serveKeyCommands(
      path,
      async () => {
        ran++;
        return { outcome: "revoked" };
      },
      logger,
    );
    try {
      const bad = { command: "drop", accountId: crypto.randomUUID() } as unknown as Parameters<
        typeof sendKeyCommand
      >[1];
      expect(await sendKeyCommand(path, bad)).toEqual({ outcome: "failed", message: "not a key command" });
      expect(ran).toBe(0);
    } finally {
      await socket.close();
    }
  });

  it("never reports an outcome the server did not send", async () => {
    // A server that takes the command and closes without answering, as an API killed mid-command.
    const path = join(dir, "mute.sock");
    const mute = createServer((connection) => connection.once("data", () => connection.destroy()));
    await new Promise<void>((done) => mute.listen(path, done));
    try {
      await expect(
        sendKeyCommand(path, { command: "create", accountId: crypto.randomUUID() }),
      ).rejects.toThrow("took the command but sent no outcome");
    } finally {
      await new Promise<void>((done) => mute.close(() => done()));
    }
  });
});
