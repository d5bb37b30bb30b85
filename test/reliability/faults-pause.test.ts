/**
 * Redis paused (SIGSTOP) for 35 s under load, past the API's 5 s Redis deadline and BullMQ's 30 s
 * job locks, the database and the API paused for 5 s, each then resumed (SIGCONT), and two faults at
 * once (the ingest worker SIGKILLed with jobs in hand while Redis restarts), and the network to
 * the database frozen for 25 s or every connection to it reset (through a TCP proxy): every event
 * answered 202 is stored exactly once afterwards, and the report routes equal the reference.
 * While each fault is on, report routes are requested as well (`reportProbe`): each must answer a
 * 200 of the route's usual shape or a 5xx with the JSON error body, within a deadline.
 */
import { springSale } from "@funnel/fixtures";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type DedicatedCluster, dedicatedCluster } from "../support/dedicated-database";
import { expectCleanRun, type FaultTimes, outage, runScenario, sleep } from "./scenario";
import { type Stack, startStack } from "./stack";

/** How long the database or the API stays stopped. */
const PAUSE_MS = 5_000;
/**
 * How long Redis stays stopped: past the API's 5 s Redis deadline, so requests are answered 503 while
 * their job writes may still land once Redis resumes (the client sends them again, the writer
 * stores each event once), and past BullMQ's 30 s job lock, so the jobs the worker holds lose their
 * locks meanwhile.
 */
const REDIS_PAUSE_MS = 35_000;
/** How long Redis stays away in the two-fault scenario. */
const DOWN_MS = 5_000;
/**
 * A report request during a fault must be answered within this long after the fault ends: requests
 * wait for a stopped database (its statement deadline is kept by the stopped server itself).
 */
const REPORT_GRACE_MS = 15_000;
/** How long the network to the database passes nothing: past the API's 16 s query deadline. */
const FREEZE_MS = 25_000;
/**
 * A report asked while the database is unreachable fails on the client's own deadline (statement
 * timeout 15 s + 1 s, or 15 s waiting for a pooled connection): answered within this long, however
 * long the fault lasts.
 */
const REPORT_DEADLINE_MS = 20_000;

let cluster: DedicatedCluster;
let stack: Stack | undefined;

beforeAll(() => {
  cluster = dedicatedCluster();
});

afterEach(async () => {
  // A failed scenario must leave nothing stopped: the cluster for the next scenario, and the
  // API (a stopped process would never act on close()'s SIGTERM).
  cluster.resume();
  await cluster.start();
  stack?.redis.resume();
  stack?.api.child.kill("SIGCONT");
  stack?.databaseProxy?.thaw();
  await stack?.close();
  stack = undefined;
});

describe("processes paused under load, and two faults at once", () => {
  it("Redis paused (SIGSTOP) 35 s and resumed: every accepted event stored once", async () => {
    stack = await startStack(cluster, { appendfsync: "everysec" });
    const current = stack;
    const probe = await reportProbe(current, REDIS_PAUSE_MS + REPORT_GRACE_MS);
    let activeAtPause = 0;
    const result = await runScenario(
      current,
      "redis-sigstop",
      301,
      probe.during(
        outage(
          async () => {
            // Pause only while the worker holds jobs, so their locks expire while it works on them.
            for (let i = 0; i < 200 && activeAtPause === 0; i++) {
              activeAtPause = (await current.queue()).active;
              if (activeAtPause === 0) await sleep(25);
            }
            current.redis.pause();
          },
          async () => current.redis.resume(),
          REDIS_PAUSE_MS,
        ),
      ),
    );
    const lockLines = current.worker
      .output()
      .split("\n")
      .filter((line) => /lock|stalled/i.test(line));
    console.log(
      `[faults] redis-sigstop jobs in hand at the pause: ${activeAtPause}; worker log lines about locks or stalled jobs: ${lockLines.length}${
        lockLines.length > 0 ? `, first: ${lockLines[0]?.slice(0, 400)}` : ""
      }`,
    );
    probe.print("redis-sigstop");
    expect(activeAtPause).toBeGreaterThan(0);
    expectCleanRun(result);
    expect(result.accounting.missing, "accepted events lost").toBe(0);
    // Nothing can be queued while Redis is stopped: the clients saw the pause, their requests
    // answered 503 once the API's Redis deadline (REDIS_COMMAND_TIMEOUT_MS, 5 s) ran out, and sent
    // again.
    expect(longestGap(result), "no 202 while Redis was stopped").toBeGreaterThanOrEqual(REDIS_PAUSE_MS * 0.8);
    const refused = [...result.load.answers]
      .filter(([answer]) => answer.endsWith(" 503"))
      .reduce((n, [, count]) => n + count, 0);
    expect(refused, "requests answered 503 during the pause").toBeGreaterThan(0);
    expect(current.api.child.exitCode, "the API kept running").toBeNull();
    expect(current.worker.child.exitCode, "the worker kept running").toBeNull();
    probe.expectClean();
  });

  it("the database paused (SIGSTOP on every process of the cluster) 5 s and resumed: every accepted event stored once", async () => {
    stack = await startStack(cluster, { appendfsync: "everysec" });
    const current = stack;
    const probe = await reportProbe(current, PAUSE_MS + REPORT_GRACE_MS);
    let pausedProcesses = 0;
    const result = await runScenario(
      current,
      "database-sigstop",
      302,
      probe.during(
        outage(
          async () => {
            pausedProcesses = await cluster.pause();
          },
          async () => cluster.resume(),
          PAUSE_MS,
        ),
      ),
    );
    console.log(`[faults] database-sigstop processes paused: ${pausedProcesses}`);
    probe.print("database-sigstop");
    // The postmaster, its auxiliary processes and at least the stack's connections.
    expect(pausedProcesses).toBeGreaterThan(5);
    expectCleanRun(result);
    expect(result.accounting.missing, "accepted events lost").toBe(0);
    expect(current.api.child.exitCode, "the API kept running").toBeNull();
    expect(current.worker.child.exitCode, "the worker kept running").toBeNull();
    probe.expectClean();
  });

  it("the API paused (SIGSTOP) 5 s with requests in flight and resumed: every accepted event stored once", async () => {
    stack = await startStack(cluster, { appendfsync: "everysec" });
    const current = stack;
    const probe = await reportProbe(current, PAUSE_MS + REPORT_GRACE_MS);
    const result = await runScenario(
      current,
      "api-sigstop",
      303,
      probe.during(
        outage(
          async () => current.api.child.kill("SIGSTOP"),
          async () => current.api.child.kill("SIGCONT"),
          PAUSE_MS,
        ),
      ),
    );
    probe.print("api-sigstop");
    expectCleanRun(result);
    expect(result.accounting.missing, "accepted events lost").toBe(0);
    expect(longestGap(result), "no 202 while the API was stopped").toBeGreaterThanOrEqual(PAUSE_MS * 0.8);
    expect(current.api.child.exitCode, "the API kept running").toBeNull();
    probe.expectClean();
  });

  it("two faults at once: the ingest worker killed (SIGKILL) with jobs in hand while Redis restarts (SHUTDOWN, 5 s away): every accepted event stored once", async () => {
    stack = await startStack(cluster, { appendfsync: "everysec" });
    const current = stack;
    const probe = await reportProbe(current, PAUSE_MS + REPORT_GRACE_MS);
    let activeAtKill = 0;
    let redisBackAt = 0;
    const result = await runScenario(
      current,
      "worker-sigkill-redis-restart",
      304,
      probe.during(async (): Promise<FaultTimes> => {
        // Kill only while the worker holds jobs, so some are half-written when it dies.
        for (let i = 0; i < 200 && activeAtKill === 0; i++) {
          activeAtKill = (await current.queue()).active;
          if (activeAtKill === 0) await sleep(25);
        }
        const faultAt = Date.now();
        await Promise.all([current.worker.stop("SIGKILL"), current.redis.shutdown()]);
        await sleep(DOWN_MS);
        await current.redis.start();
        redisBackAt = Date.now();
        // A new worker, as a process manager would start one, once Redis answers again.
        await current.startWorker();
        return { faultAt, restoredAt: Date.now() };
      }),
    );
    console.log(
      `[faults] worker-sigkill-redis-restart jobs in hand at the kill: ${activeAtKill}; Redis back after ${
        redisBackAt - result.times.faultAt
      } ms, the new worker listening ${result.times.restoredAt - redisBackAt} ms later`,
    );
    probe.print("worker-sigkill-redis-restart");
    expect(activeAtKill).toBeGreaterThan(0);
    expectCleanRun(result);
    expect(result.load.refusedAt.length, "the outage was seen by clients").toBeGreaterThan(0);
    expect(result.accounting.missing, "accepted events lost").toBe(0);
    probe.expectClean();
  });
});

describe("the network to the database failing under load", () => {
  it("frozen 25 s (connections open, nothing passes) and restored: every accepted event stored once, reports refused within their deadline", async () => {
    stack = await startStack(cluster, { appendfsync: "everysec", databaseProxy: true });
    const current = stack;
    const proxy = current.databaseProxy;
    if (!proxy) throw new Error("the stack has no database proxy");
    const probe = await reportProbe(current, REPORT_DEADLINE_MS);
    const result = await runScenario(
      current,
      "database-network-frozen",
      305,
      probe.during(
        outage(
          async () => proxy.freeze(),
          async () => proxy.thaw(),
          FREEZE_MS,
        ),
      ),
    );
    probe.print("database-network-frozen");
    expectCleanRun(result);
    expect(result.accounting.missing, "accepted events lost").toBe(0);
    expect(current.api.child.exitCode, "the API kept running").toBeNull();
    expect(current.worker.child.exitCode, "the worker kept running").toBeNull();
    probe.expectClean();
    // Reports asked while nothing passed were refused (503), not held until the network came back.
    const refused = probe.answers.filter((a) => a.status.startsWith("503"));
    expect(refused.length, "reports refused while the database was unreachable").toBeGreaterThan(0);
  });

  it("every connection to the database reset (RST) mid-load, twice: every accepted event stored once", async () => {
    stack = await startStack(cluster, { appendfsync: "everysec", databaseProxy: true });
    const current = stack;
    const proxy = current.databaseProxy;
    if (!proxy) throw new Error("the stack has no database proxy");
    const probe = await reportProbe(current, REPORT_DEADLINE_MS);
    let before = 0;
    const result = await runScenario(
      current,
      "database-connections-reset",
      306,
      probe.during(async (): Promise<FaultTimes> => {
        before = proxy.connections();
        const faultAt = Date.now();
        proxy.reset();
        await sleep(2_000);
        proxy.reset();
        return { faultAt, restoredAt: Date.now() };
      }),
    );
    console.log(
      `[faults] database-connections-reset connections through the proxy: ${before} before, ${proxy.connections()} after`,
    );
    probe.print("database-connections-reset");
    expectCleanRun(result);
    expect(result.accounting.missing, "accepted events lost").toBe(0);
    expect(proxy.connections(), "the processes connected again").toBeGreaterThan(before);
    expect(current.api.child.exitCode, "the API kept running").toBeNull();
    expect(current.worker.child.exitCode, "the worker kept running").toBeNull();
    // Both earlier runs had a report answered 401 for the stack's valid key: its key lookup was
    // resolved with an empty result by the driver (patches/postgres@3.4.9.patch, db/src/client.test.ts).
    const { requests, problems } = probe.summary();
    expect(requests, "report requests made during the resets").toBeGreaterThan(0);
    expect(problems, "report answers during the resets").toEqual([]);
  });
});

/** Longest stretch without a 202 (the scenario's figures line prints it too). */
function longestGap(result: { load: { acceptedAt: { at: number }[] } }): number {
  const times = result.load.acceptedAt.map((a) => a.at).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, (times[i] ?? 0) - (times[i - 1] ?? 0));
  return gap;
}

/** The answer to one report request, or what kept it from coming. */
interface Answer {
  status: string;
  body: unknown;
  text: string;
  ms: number;
}

/** The code or message under a failed fetch ("fetch failed" alone says nothing). */
function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  return String(cause?.code ?? cause?.message ?? "no cause");
}

/** One report request made while a fault was on. */
interface ProbeAnswer {
  route: string;
  /**
   * The HTTP status (with the error code of a clean 5xx), `timeout` past the probe's deadline, or
   * `network` for a connection error.
   */
  status: string;
  ms: number;
  /** Why the answer is not acceptable (a wrong shape, an error without the JSON body…). */
  problem?: string;
}

/**
 * Report routes requested while a fault is on, from its injection until it is restored (the last
 * requests awaited): each route in a lane of its own, one request after another, each with a
 * period ending now (so never answered from the report cache) and a deadline of `deadlineMs` from
 * when it was sent. A 200 must carry the same top-level fields as the
 * route's answer before the load (the figures themselves move with the load and are not compared:
 * the report check after the drain does that); a 5xx must carry the JSON error body
 * (`{ error: { code, message, request_id } }`). A GET whose connection fails is sent again at once,
 * once, as browsers do for an idempotent request (RFC 9110, 9.2.2), and counted in `retried` with
 * the error's cause; a 4xx, a second connection error or no answer in time fails.
 */
async function reportProbe(stack: Stack, deadlineMs: number) {
  const firstStep = springSale.steps[0]?.id ?? "";
  const routes: { name: string; path: string; bucketed: boolean }[] = [
    { name: "overview", path: "/overview", bucketed: false },
    { name: "steps", path: `/steps/${firstStep}`, bucketed: true },
    { name: "conversions", path: "/conversions", bucketed: true },
    { name: "dropoffs", path: "/dropoffs", bucketed: false },
    { name: "revenue", path: "/revenue", bucketed: true },
  ];
  const retried: string[] = [];
  const request = async (route: (typeof routes)[number], again = true): Promise<Answer> => {
    const query: Record<string, string> = {
      date_from: new Date(Date.now() - 8 * 86_400_000).toISOString().slice(0, 10),
      date_to: new Date().toISOString(),
      ...(route.bucketed ? { granularity: "day" } : {}),
      ...(route.name === "conversions" ? { page: "1", page_size: "50" } : {}),
    };
    const url = `${stack.api.url}/api/v1/analytics/funnels/${springSale.id}${route.path}?${new URLSearchParams(query)}`;
    const started = Date.now();
    try {
      const response = await fetch(url, {
        headers: { authorization: `Bearer ${stack.database.key}` },
        signal: AbortSignal.timeout(deadlineMs),
      });
      const text = await response.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: String(response.status), body, text, ms: Date.now() - started };
    } catch (error) {
      const name = (error as Error).name;
      const status = name === "TimeoutError" || name === "AbortError" ? "timeout" : "network";
      const text = `${String(error)} (${causeOf(error)})`;
      if (status === "network" && again) {
        retried.push(`${route.name}: ${text}`);
        return request(route, false);
      }
      return { status, body: undefined, text, ms: Date.now() - started };
    }
  };
  const fieldsOf = (body: unknown) =>
    body && typeof body === "object" && !Array.isArray(body) ? Object.keys(body).sort().join(",") : "";

  // Each route's fields, from an answer before the load (an empty database).
  const fields = new Map<string, string>();
  for (const route of routes) {
    const answer = await request(route);
    expect(answer.status, `${route.name} before the load: ${answer.text.slice(0, 300)}`).toBe("200");
    fields.set(route.name, fieldsOf(answer.body));
  }

  const answers: ProbeAnswer[] = [];
  const judge = (route: string, answer: Answer): ProbeAnswer => {
    const { status, body, ms } = answer;
    let problem: string | undefined;
    if (status === "200") {
      if (fieldsOf(body) !== fields.get(route))
        problem = `fields ${fieldsOf(body)}: ${answer.text.slice(0, 300)}`;
    } else if (/^5\d\d$/.test(status)) {
      const error = (body as { error?: Record<string, unknown> } | undefined)?.error;
      const clean =
        typeof error?.code === "string" &&
        typeof error.message === "string" &&
        typeof error.request_id === "string";
      if (!clean) problem = `not the JSON error body: ${answer.text.slice(0, 300)}`;
      else return { route, status: `${status} ${String(error.code)}`, ms };
    } else {
      problem = `${status}: ${answer.text.slice(0, 300)}`;
    }
    return { route, status, ms, ...(problem ? { problem } : {}) };
  };

  return {
    answers,
    /** Wraps a fault: requests reports from its injection until it returns, then awaits the last ones. */
    during(fault: () => Promise<FaultTimes>) {
      return async (): Promise<FaultTimes> => {
        let on = true;
        const probing = Promise.all(
          routes.map(async (route) => {
            while (on) {
              answers.push(judge(route.name, await request(route)));
              if (on) await sleep(250);
            }
          }),
        );
        try {
          return await fault();
        } finally {
          on = false;
          await probing;
        }
      };
    },
    summary() {
      const byStatus: Record<string, number> = {};
      for (const a of answers)
        byStatus[`${a.route} ${a.status}`] = (byStatus[`${a.route} ${a.status}`] ?? 0) + 1;
      return {
        requests: answers.length,
        answers: byStatus,
        slowestMs: Math.max(0, ...answers.map((a) => a.ms)),
        retried,
        problems: answers.filter((a) => a.problem).map((a) => `${a.route} ${a.problem}`),
      };
    },
    print(name: string) {
      console.log(`[faults] ${name} reports during the fault ${JSON.stringify(this.summary())}`);
    },
    expectClean() {
      const { requests, problems } = this.summary();
      expect(requests, "report requests made during the fault").toBeGreaterThan(0);
      expect(problems, "report answers during the fault").toEqual([]);
    },
  };
}
