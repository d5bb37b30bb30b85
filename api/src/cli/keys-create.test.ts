import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { createDatabase } from "@funnel/db/client";
import { testServices } from "@funnel/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticate } from "../services/keys/authenticate";
import { KeyCache } from "../services/keys/key-cache";
import { createTestApp, type TestApp } from "../testing";

const root = resolve(import.meta.dirname, "../../..");
const tsx = join(root, "node_modules/.bin/tsx");
const script = join(root, "api/src/cli/keys-create.ts");
const run = promisify(execFile);

/** Runs `pnpm keys:create` as its own process, with only the environment given. */
async function keysCreate(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(tsx, [script, ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "silent", ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

const lastLine = (stdout: string) => stdout.trimEnd().split("\n").at(-1) ?? "";

let t: TestApp;
let env: Record<string, string>;
beforeAll(async () => {
  t = await createTestApp();
  env = { DATABASE_URL: t.deps.databaseUrl ?? "", REDIS_URL: testServices().redisUrl };
});
afterAll(() => t?.close());

describe("pnpm keys:create", () => {
  it("creates the account and prints a key, alone on the last line, that the API accepts", async () => {
    const accountId = crypto.randomUUID();
    const result = await keysCreate([accountId, "--name", "ci", "--email", "ops@example.com"], env);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const key = lastLine(result.stdout);
    expect(key).toMatch(/^fa_live_[A-Za-z0-9_-]{43}$/);
    // Printed once: only the last line carries it.
    expect(result.stdout.split(key).length).toBe(2);

    const response = await t.app.request("/api/v1/funnels", { headers: { authorization: `Bearer ${key}` } });
    expect(response.status).toBe(200);
    expect(await authenticate(t.deps, key)).toMatchObject({
      accountId,
      notificationEmail: "ops@example.com",
    });
  });

  it("adds a second key to an existing account", async () => {
    const accountId = crypto.randomUUID();
    const first = lastLine((await keysCreate([accountId], env)).stdout);
    const second = lastLine((await keysCreate([accountId], env)).stdout);
    expect(second).not.toBe(first);
    expect((await authenticate(t.deps, first)).accountId).toBe(accountId);
    expect((await authenticate(t.deps, second)).accountId).toBe(accountId);
  });

  it("refuses a bad account id or option with usage, creating nothing", async () => {
    const cases = [[], ["acme"], [crypto.randomUUID(), "--email", "nope"], [crypto.randomUUID(), "--bogus"]];
    for (const result of await Promise.all(cases.map((args) => keysCreate(args, env)))) {
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain("usage: pnpm keys:create");
    }
    // Four processes at once, each loading the CLI: seconds apiece on a busy machine.
  }, 120_000);

  it("refuses an invalid configuration with one line per variable", async () => {
    const result = await keysCreate([crypto.randomUUID()], { DATABASE_URL: env.DATABASE_URL ?? "" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("DATABASE_URL: set both DATABASE_URL and REDIS_URL");
  });

  it("uses embedded PGlite in DATA_DIR without DATABASE_URL", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "funnel-keys-"));
    try {
      const accountId = crypto.randomUUID();
      const result = await keysCreate([accountId], { DATA_DIR: dataDir });
      expect(result.code).toBe(0);
      const key = lastLine(result.stdout);
      const database = await createDatabase({ dataDir: join(dataDir, "pglite") });
      try {
        expect((await authenticate({ database, keys: new KeyCache() }, key)).accountId).toBe(accountId);
      } finally {
        await database.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
    // A new process migrates a new PGlite database first: tens of seconds on a busy machine.
  }, 120_000);
});
