import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDatabase } from "./client";
import { DataDirLockedError, lockDataDir } from "./data-dir-lock";

const lockModule = resolve(import.meta.dirname, "data-dir-lock.ts");

/** A Node process (with tsx, to import the lock module) running `code`; its output is collected. */
function node(code: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  return { child, output: () => output, exited };
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const { child, exited } = node("");
  await exited;
  if (child.pid === undefined) throw new Error("no pid");
  return child.pid;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "funnel-lock-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe("the data directory lock", () => {
  it("is refused to a second opener in the same process until released, naming the holder", async () => {
    const lock = await lockDataDir(dir);
    expect(await readFile(join(dir, "funnel.lock"), "utf8")).toBe(`${process.pid}\n`);
    const refused = await lockDataDir(dir).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DataDirLockedError);
    expect((refused as DataDirLockedError).pid).toBe(process.pid);
    lock.release();
    expect(existsSync(join(dir, "funnel.lock"))).toBe(false);
    (await lockDataDir(dir)).release();
  });

  it("is refused while another live process holds it, and taken over once that process is dead", async () => {
    const holder = node(
      `const { lockDataDir } = await import(${JSON.stringify(lockModule)});
       await lockDataDir(${JSON.stringify(dir)});
       console.log("locked");
       setTimeout(() => {}, 60_000);`,
    );
    try {
      while (!holder.output().includes("locked")) {
        if (holder.child.exitCode !== null) throw new Error(holder.output());
        await new Promise((r) => setTimeout(r, 50));
      }
      await expect(lockDataDir(dir)).rejects.toThrow(`is in use by process ${holder.child.pid}`);
    } finally {
      holder.child.kill("SIGKILL");
      await holder.exited;
    }
    // SIGKILL left its lock file: a dead pid's lock is taken over.
    expect(await readFile(join(dir, "funnel.lock"), "utf8")).toBe(`${holder.child.pid}\n`);
    const lock = await lockDataDir(dir);
    expect(await readFile(join(dir, "funnel.lock"), "utf8")).toBe(`${process.pid}\n`);
    lock.release();
  }, 30_000);

  it("takes over a lock without a pid, or with this process's pid from a previous life", async () => {
    for (const content of ["", "not a pid\n", `${process.pid}\n`, `${await deadPid()}\n`]) {
      await writeFile(join(dir, "funnel.lock"), content);
      const lock = await lockDataDir(dir);
      expect(await readFile(join(dir, "funnel.lock"), "utf8")).toBe(`${process.pid}\n`);
      lock.release();
    }
  });

  it("is released when its process exits without closing", async () => {
    const exiting = node(
      `const { lockDataDir } = await import(${JSON.stringify(lockModule)});
       await lockDataDir(${JSON.stringify(dir)});
       process.exit(3);`,
    );
    expect(await exiting.exited).toBe(3);
    expect(existsSync(join(dir, "funnel.lock"))).toBe(false);
  }, 30_000);

  it("goes to exactly one of several processes taking over a stale lock at once", async () => {
    await writeFile(join(dir, "funnel.lock"), `${await deadPid()}\n`);
    const racers = Array.from({ length: 3 }, () =>
      node(
        `const { lockDataDir } = await import(${JSON.stringify(lockModule)});
         // Start together, at one moment on the wall clock.
         await new Promise((r) => setTimeout(r, Math.max(0, ${Date.now() + 6_000} - Date.now())));
         try { await lockDataDir(${JSON.stringify(dir)}); console.log("won"); }
         catch (error) { console.log(error.name, error.pid); }
         setTimeout(() => process.exit(0), 1_000);`,
      ),
    );
    await Promise.all(racers.map((r) => r.exited));
    const outputs = racers.map((r) => r.output().trim());
    const winners = racers.filter((r) => r.output().includes("won"));
    expect(winners, outputs.join("\n")).toHaveLength(1);
    const winner = winners[0]?.child.pid;
    for (const output of outputs.filter((o) => o !== "won")) {
      expect(output).toBe(`DataDirLockedError ${winner}`);
    }
  }, 30_000);

  it("is taken by every opener of a PGlite folder and released when the database closes", async () => {
    const dataDir = join(dir, "pglite");
    const database = await createDatabase({ dataDir });
    await expect(createDatabase({ dataDir })).rejects.toThrow(`is in use by process ${process.pid}`);
    await database.close();
    expect(existsSync(join(dataDir, "funnel.lock"))).toBe(false);
    await (await createDatabase({ dataDir })).close();
  }, 120_000);
});
