/**
 * `pnpm keys:create` and `pnpm keys:revoke` while the API runs on the embedded default: one process
 * at a time opens a PGlite data directory, so the commands go through the running API (its local
 * socket) and take effect there at once; and anything else that tries to open the directory is
 * refused, naming the process that holds it.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { createDatabase } from "@funnel/db/client";
import { afterAll, describe, expect, it } from "vitest";
import { startApi } from "../support/api-process";
import { repoRoot } from "../support/services";

const run = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), "funnel-keys-embedded-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** One of the key commands as its own process, as `pnpm keys:*` runs it. */
async function keys(command: "create" | "revoke", args: string[]) {
  const script = resolve(repoRoot, `api/src/cli/keys-${command}.ts`);
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", script, ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "silent", DATA_DIR: dataDir },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

const lastLine = (text: string) => text.trimEnd().split("\n").at(-1) ?? "";

async function funnelsStatus(url: string, key: string): Promise<number> {
  const response = await fetch(`${url}/api/v1/funnels`, { headers: { authorization: `Bearer ${key}` } });
  await response.body?.cancel();
  return response.status;
}

const embedded = { DATA_DIR: dataDir, SEED_DEMO: "false" };
// A new process migrates a new PGlite database first: minutes on a busy machine.
const startup = { readyTimeoutMs: 300_000 };

describe("key commands on the embedded default", () => {
  it("create and revoke through the running API, at once and for good, without echoing the key", async () => {
    const accountId = crypto.randomUUID();
    let api = await startApi(embedded, startup);
    try {
      const created = await keys("create", [accountId, "--name", "while running"]);
      expect(created.stderr).toBe("");
      expect(created.code).toBe(0);
      const key = lastLine(created.stdout);
      expect(key).toMatch(/^fa_live_[A-Za-z0-9_-]{43}$/);
      expect(await funnelsStatus(api.url, key)).toBe(200);

      const revoked = await keys("revoke", [accountId, key]);
      expect(revoked.code).toBe(0);
      expect(revoked.stdout).toContain(`Revoked the key of account ${accountId}`);
      // Not the key, nor the part of it that tells keys apart.
      for (const output of [revoked.stdout, revoked.stderr]) expect(output).not.toContain(key.slice(8, 16));
      expect(await funnelsStatus(api.url, key)).toBe(401);

      // A second revoke finds no live key: a failure, and still no part of the key.
      const again = await keys("revoke", [accountId, key]);
      expect(again.code).toBe(1);
      expect(again.stdout).toBe("");
      expect(again.stderr).toContain(`account ${accountId} has no live key`);
      expect(again.stderr).not.toContain(key.slice(8, 16));

      expect(await api.stop("SIGTERM")).toBe(0);
      api = await startApi(embedded, startup);
      expect(await funnelsStatus(api.url, key)).toBe(401);
    } finally {
      await api.stop();
    }
  }, 900_000);

  it("refuses a second opener of the data directory, naming the process that holds it", async () => {
    const api = await startApi(embedded, startup);
    try {
      await expect(createDatabase({ dataDir: join(dataDir, "pglite") })).rejects.toThrow(
        `is in use by process ${api.child.pid}`,
      );
    } finally {
      await api.stop();
    }

    // Held by a process that serves no key commands (this one): the command refuses, writing nothing.
    const database = await createDatabase({ dataDir: join(dataDir, "pglite") });
    try {
      const refused = await keys("create", [crypto.randomUUID()]);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toContain(`is in use by process ${process.pid}`);
    } finally {
      await database.close();
    }
  }, 900_000);
});
