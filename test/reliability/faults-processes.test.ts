/**
 * The database restarted, the ingest worker killed with jobs in hand, a worker paused past its job
 * locks beside a second one, and the API killed and started again, each under load: every event
 * answered 202 is stored exactly once afterwards.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type DedicatedCluster, dedicatedCluster } from "../support/dedicated-database";
import { expectCleanRun, outage, runScenario, sleep } from "./scenario";
import { type Stack, startStack } from "./stack";

/** Past BullMQ's 30 s job lock and its 30 s stalled-job check, so the second worker takes over. */
const PAUSE_MS = 65_000;

let cluster: DedicatedCluster;
let stack: Stack | undefined;

beforeAll(() => {
  cluster = dedicatedCluster();
});

afterEach(async () => {
  // A failed scenario must not leave the suite's cluster stopped for the next one.
  await cluster.start();
  await stack?.close();
  stack = undefined;
});

describe("processes failing under load", () => {
  it("the database restarted (fast shutdown, 5 s away): every accepted event stored once", async () => {
    stack = await startStack(cluster, { appendfsync: "everysec" });
    const result = await runScenario(
      stack,
      "database-restart",
      201,
      outage(
        () => cluster.stop(),
        () => cluster.start(),
        5_000,
      ),
    );
    expectCleanRun(result);
    expect(result.accounting.missing, "accepted events lost").toBe(0);
  });

  it("the ingest worker killed (SIGKILL) with jobs in hand: every accepted event stored once", async () => {
    stack = await startStack(cluster, { appendfsync: "everysec" });
    const current = stack;
    let activeAtKill = 0;
    const result = await runScenario(current, "worker-sigkill", 202, async () => {
      // Kill only while the worker holds jobs, so some are half-written when it dies.
      for (let i = 0; i < 200 && activeAtKill === 0; i++) {
        activeAtKill = (await current.queue()).active;
        if (activeAtKill === 0) await sleep(25);
      }
      const faultAt = Date.now();
      await current.restartWorker("SIGKILL");
      return { faultAt, restoredAt: Date.now() };
    });
    console.log(`[faults] worker-sigkill jobs in hand at the kill: ${activeAtKill}`);
    expect(activeAtKill).toBeGreaterThan(0);
    expectCleanRun(result);
    expect(result.accounting.missing, "accepted events lost").toBe(0);
  });

  it("a worker paused (SIGSTOP) past its job locks while a second worker takes its jobs: every accepted event stored once", async () => {
    stack = await startStack(cluster, { appendfsync: "everysec" });
    const current = stack;
    const second = await current.addWorker();
    const paused = current.worker.child;
    let activeAtPause = 0;
    try {
      const result = await runScenario(current, "worker-sigstop", 204, async () => {
        // Pause only while the workers hold jobs, so the paused one is mid-transaction on some:
        // its row and advisory locks stay held, its BullMQ locks expire (30 s), and the second
        // worker's stalled-job check hands those jobs to it while the first may still commit them.
        for (let i = 0; i < 200 && activeAtPause === 0; i++) {
          activeAtPause = (await current.queue()).active;
          if (activeAtPause === 0) await sleep(25);
        }
        const faultAt = Date.now();
        paused.kill("SIGSTOP");
        await sleep(PAUSE_MS);
        paused.kill("SIGCONT");
        return { faultAt, restoredAt: Date.now() };
      });
      console.log(`[faults] worker-sigstop jobs in hand at the pause: ${activeAtPause}`);
      expect(activeAtPause).toBeGreaterThan(0);
      expectCleanRun(result);
      expect(result.accounting.missing, "accepted events lost").toBe(0);
      expect(second.child.exitCode, "the second worker kept running").toBeNull();
      expect(paused.exitCode, "the paused worker kept running").toBeNull();
    } finally {
      paused.kill("SIGCONT");
    }
  });

  it("the API killed (SIGKILL) with requests in flight and started again: every accepted event stored once", async () => {
    stack = await startStack(cluster, { appendfsync: "everysec" });
    const current = stack;
    const result = await runScenario(current, "api-sigkill", 203, async () => {
      const faultAt = Date.now();
      await current.restartApi("SIGKILL");
      return { faultAt, restoredAt: Date.now() };
    });
    expectCleanRun(result);
    expect(result.load.refusedAt.length, "the outage was seen by clients").toBeGreaterThan(0);
    expect(result.accounting.missing, "accepted events lost").toBe(0);
  });

  it("two API processes behind a balancer, one killed (SIGKILL) mid-load and left down: every accepted event stored once", async () => {
    stack = await startStack(cluster, { appendfsync: "everysec" });
    const current = stack;
    const second = await current.addApi();
    // A balancer that takes turns over the processes alive, as one with health checks would once
    // it noticed; requests cut off by the kill are sent again by the load, to whichever is left.
    let turn = 0;
    const served = new Map<string, number>();
    const balancer = () => {
      const alive = [current.api, second].filter(
        (a) => a.child.exitCode === null && a.child.signalCode === null,
      );
      const url = (alive[turn++ % Math.max(1, alive.length)] ?? current.api).url;
      served.set(url, (served.get(url) ?? 0) + 1);
      return url;
    };
    const result = await runScenario(
      current,
      "api-pair-sigkill",
      205,
      async () => {
        const faultAt = Date.now();
        await second.stop("SIGKILL");
        return { faultAt, restoredAt: Date.now() };
      },
      balancer,
    );
    expectCleanRun(result);
    expect(served.get(second.url), "requests sent to the second API before its kill").toBeGreaterThan(10);
    expect(served.get(current.api.url), "requests sent to the first API").toBeGreaterThan(
      served.get(second.url) ?? 0,
    );
    expect(result.accounting.missing, "accepted events lost").toBe(0);
  });
});
