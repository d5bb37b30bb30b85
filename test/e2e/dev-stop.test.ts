/**
 * How `pnpm dev` (scripts/dev.ts) stops: Ctrl-C ends it with 0, and only once every process of
 * every part is gone; a part that ends on its own stops the run with that part's code. The parts
 * are stand-ins for `pnpm --filter … start`: a process that, like pnpm, ends at once with 130 on
 * SIGINT, over a child that takes half a second to finish its work, as the API does.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { repoRoot } from "../support/services";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface DevRun {
  child: ChildProcess;
  /** Written by the part's child when it has finished stopping. */
  stoppedMarker: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** scripts/dev.ts, run with a stand-in `pnpm` on PATH, in a directory with no edge worker. */
function startDev(env: Record<string, string> = {}): DevRun {
  const dir = mkdtempSync(join(tmpdir(), "funnel-dev-"));
  dirs.push(dir);
  const stoppedMarker = join(dir, "stopped");
  const worker = [
    `process.on("SIGINT", () => setTimeout(() => {`,
    `  require("node:fs").writeFileSync(${JSON.stringify(stoppedMarker)}, "stopped");`,
    "  process.exit(0);",
    "}, 500));",
    'console.log("part ready");',
    "setInterval(() => {}, 1000);",
  ].join("\n");
  const pnpm = join(dir, "pnpm");
  writeFileSync(
    pnpm,
    [
      `#!${process.execPath}`,
      'const { spawn } = require("node:child_process");',
      `spawn(process.execPath, ["-e", ${JSON.stringify(worker)}], { stdio: "inherit" });`,
      "process.on('SIGINT', () => process.exit(130));",
      "const code = Number(process.env.FAKE_PART_EXIT);",
      "if (code) setTimeout(() => process.exit(code), 1000);",
      "setInterval(() => {}, 1000);",
    ].join("\n"),
  );
  chmodSync(pnpm, 0o755);
  const tsx = import.meta.resolve("tsx", `file://${resolve(repoRoot, "package.json")}`);
  const child = spawn(process.execPath, ["--import", tsx, resolve(repoRoot, "scripts/dev.ts")], {
    cwd: dir,
    env: { PATH: `${dir}:${process.env.PATH ?? ""}`, HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  return { child, stoppedMarker, output: () => log, exited };
}

async function ready(run: DevRun): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!run.output().includes("part ready")) {
    if (Date.now() > deadline) throw new Error(`the part did not start:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("pnpm dev, stopped", () => {
  it("by Ctrl-C ends with 0 once every part has finished stopping, saying nothing", async () => {
    const run = startDev();
    await ready(run);
    // The terminal's Ctrl-C, and the same signal passed on by pnpm a moment later.
    run.child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 20));
    run.child.kill("SIGINT");
    expect(await run.exited).toBe(0);
    expect(existsSync(run.stoppedMarker)).toBe(true);
    expect(run.output()).toBe("part ready\n");
  }, 60_000);

  it("by a part that ends on its own ends with that part's exit code", async () => {
    const run = startDev({ FAKE_PART_EXIT: "3" });
    await ready(run);
    expect(await run.exited).toBe(3);
    expect(run.output()).toContain("the API ended (exit code 3); stopping the rest.");
  }, 60_000);
});
