import { expect } from "vitest";
import { funnelTraffic, IngestLoad, type LoadReport } from "../support/ingest-load";
import { type Accounting, clientView, type Settled, type Stack } from "./stack";

/** Events sent per scenario (about 95 % through /import, the rest through /track). */
export const SCENARIO_EVENTS = Number(process.env.FAULTS_EVENTS ?? 100_000);
/** The pace aimed at: above the end-to-end capacity, so the queue holds a backlog when the fault hits. */
export const SCENARIO_EVENTS_PER_SECOND = Number(process.env.FAULTS_EVENTS_PER_SECOND ?? 10_000);

export interface FaultTimes {
  /** When the fault began. */
  faultAt: number;
  /** When the faulty part was back (started again). */
  restoredAt: number;
}

export interface ScenarioResult {
  load: LoadReport;
  times: FaultTimes;
  settled: Settled;
  accounting: Accounting;
  /** Events answered 202 in the `windowMs` before the fault. */
  acceptedJustBefore: (windowMs: number) => number;
}

/**
 * Sends SCENARIO_EVENTS at a steady pace, injects the fault once 40 % of them are answered 202,
 * lets the load finish (clients retry what was refused), waits for the queue to drain, and counts
 * the stored rows of every accepted event id. Prints one line of figures.
 */
export async function runScenario(
  stack: Stack,
  name: string,
  seed: number,
  fault: () => Promise<FaultTimes>,
): Promise<ScenarioResult> {
  const ready = (await (await fetch(`${stack.api.url}/readyz`)).json()) as {
    checks: { queue: { durable: boolean } };
  };
  expect(ready.checks.queue.durable, "the test's Redis is configured as the README says").toBe(true);

  const load = new IngestLoad({
    apiUrl: () => stack.api.url,
    key: stack.database.key,
    requests: funnelTraffic({ events: SCENARIO_EVENTS, seed, trackEvery: 2, trackBatch: 50 }),
    eventsPerSecond: SCENARIO_EVENTS_PER_SECOND,
  });
  let times: FaultTimes;
  try {
    await load.reached(SCENARIO_EVENTS * 0.4);
    times = await fault();
  } catch (error) {
    load.stop();
    await load.done;
    throw error;
  }
  const report = await load.done;
  const settled = await stack.settle(report.accepted.size);
  const accounting = await stack.account(report.accepted);
  const view = clientView(report.acceptedAt, report.refusedAt, times.restoredAt);
  const figures = {
    sent: report.sentEvents,
    ...accounting,
    queueAfter: settled.queue,
    answers: Object.fromEntries(report.answers),
    retriedRequests: report.retriedRequests,
    abandonedRequests: report.abandonedRequests,
    faultMs: times.restoredAt - times.faultAt,
    ...view,
    loadSeconds: (report.finishedAt - report.startedAt) / 1000,
    drainedSecondsAfterLoad: (settled.at - report.finishedAt) / 1000,
    drainedSecondsAfterRestore: (settled.at - times.restoredAt) / 1000,
  };
  console.log(`[faults] ${name} ${JSON.stringify(figures)}`);
  if (accounting.missing > 0 || settled.queue.failed > 0) {
    console.log(`[faults] ${name} worker output (end):\n${stack.worker.output().slice(-4_000)}`);
  }
  return {
    load: report,
    times,
    settled,
    accounting,
    acceptedJustBefore: (windowMs) =>
      report.acceptedAt
        .filter((a) => a.at <= times.faultAt && a.at > times.faultAt - windowMs)
        .reduce((n, a) => n + a.events, 0),
  };
}

/** What every scenario must show whatever its fault: the load went through and nothing is twice. */
export function expectCleanRun(result: ScenarioResult): void {
  expect(result.load.sentEvents).toBeGreaterThanOrEqual(SCENARIO_EVENTS);
  expect(result.load.abandonedRequests, "requests never answered 202").toBe(0);
  expect(result.load.partialAnswers, "202s that did not accept every event").toBe(0);
  expect(result.accounting.accepted).toBe(result.load.sentEvents);
  expect(result.accounting.duplicateRows, "rows stored twice").toBe(0);
  // During an outage clients get 503s (or no connection), never a 500 that reads as a bug.
  const internal = [...result.load.answers].filter(
    ([answer]) => /5\d\d$/.test(answer) && !answer.endsWith("503"),
  );
  expect(internal, "5xx answers other than 503").toEqual([]);
  expect(result.settled.queue.failed, "ingest jobs failed for good").toBe(0);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fault: `stop`, `downMs` away, then `start`; the times the scenario reports. */
export function outage(stop: () => Promise<unknown>, start: () => Promise<unknown>, downMs: number) {
  return async (): Promise<FaultTimes> => {
    const faultAt = Date.now();
    await stop();
    await sleep(downMs);
    await start();
    return { faultAt, restoredAt: Date.now() };
  };
}
