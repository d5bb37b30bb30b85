import { randomUUID } from "node:crypto";
import { insertExport, markExportCompleted, markExportStarted } from "@funnel/db/queries/exports";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExportWorker } from "../exports/worker";
import type { ExportWorker } from "../ports";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  seedFunnel,
  type TestApp,
} from "../testing";

/**
 * The estimated_completion of POST /api/v1/analytics/export, against a running export worker:
 * exports asked one after another are never estimated to finish before the one asked before, and
 * each estimate is within a small factor of when the export really completed, even when other
 * kinds of export (a year of converting visitors as XLSX) have taken far longer recently.
 */

const PERIOD = { date_from: "2026-01-01", date_to: "2026-01-31" };
/** Estimate and real time from the request to completion may differ by this factor, plus SLACK_MS. */
const FACTOR = 4;
const SLACK_MS = 500;

let t: TestApp;
let worker: ExportWorker;
let a: AccountWithKey;
let funnelId: string;

beforeAll(async () => {
  t = await createTestApp();
  worker = await startExportWorker(t.deps, { cleanup: false });
  a = await createAccountWithKey(t.deps.database);
  ({ funnelId } = await seedFunnel(t.app, a.headers));
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

interface Asked {
  jobId: string;
  askedAt: number;
  estimate: number;
}

async function ask(): Promise<Asked> {
  const askedAt = Date.now();
  const response = await t.app.request("/api/v1/analytics/export", {
    method: "POST",
    headers: { ...a.headers, "content-type": "application/json" },
    body: JSON.stringify({ funnel_id: funnelId, report_type: "overview", format: "csv", ...PERIOD }),
  });
  expect(response.status).toBe(202);
  const body = (await response.json()) as { job_id: string; estimated_completion: string };
  return { jobId: body.job_id, askedAt, estimate: Date.parse(body.estimated_completion) };
}

/** When the job completed, by its status. */
async function completedAt(jobId: string): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await t.app.request(`/api/v1/analytics/export/${jobId}`, { headers: a.headers });
    const job = (await response.json()) as { status: string; completed_at?: string; error?: string };
    if (job.status === "completed" && job.completed_at) return Date.parse(job.completed_at);
    if (job.status === "failed") throw new Error(`export ${jobId} failed: ${job.error}`);
    if (Date.now() > deadline) throw new Error(`export ${jobId} still ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Exports of another kind that each ran 30 s, completed an hour ago (another account's). */
async function slowHistory(count: number): Promise<void> {
  const other = await createAccountWithKey(t.deps.database);
  const ago = Date.now() - 3600_000;
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    const { db } = t.deps.database;
    await insertExport(db, {
      id,
      accountId: other.accountId,
      keyId: null,
      funnelId: randomUUID(),
      reportType: "conversions",
      format: "xlsx",
      params: { ...PERIOD, include_charts: false },
      createdAt: new Date(ago - 30_000),
    });
    await markExportStarted(db, id, new Date(ago - 30_000));
    await markExportCompleted(db, id, {
      fileName: `${id}.xlsx`,
      byteSize: 1,
      completedAt: new Date(ago),
      expiresAt: new Date(ago + 1_000),
    });
  }
}

function expectNear(job: Asked, completed: number): void {
  const estimated = job.estimate - job.askedAt;
  const actual = completed - job.askedAt;
  const where = `estimated ${estimated} ms, completed after ${actual} ms`;
  expect(estimated, where).toBeLessThanOrEqual(FACTOR * actual + SLACK_MS);
  expect(actual, where).toBeLessThanOrEqual(FACTOR * estimated + SLACK_MS);
}

describe("estimated_completion", () => {
  it("is monotone for an account's successive exports and close to when each completes", async () => {
    // Runs of this kind to learn from (the first, with everything cold, is the slowest), then slow
    // runs of another kind that must not skew them.
    let warmUp: Asked | undefined;
    for (let i = 0; i < 3; i++) {
      warmUp = await ask();
      await completedAt(warmUp.jobId);
    }
    await slowHistory(3);
    // The last warm-up's estimate bounds the next ones until it passes.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (warmUp?.estimate ?? 0) - Date.now())));

    // Two back to back: the second waits for the first.
    const first = await ask();
    const second = await ask();
    expect(second.estimate).toBeGreaterThanOrEqual(first.estimate);
    expectNear(first, await completedAt(first.jobId));
    expectNear(second, await completedAt(second.jobId));

    // One more once both are done, whose own run is shorter than what was estimated before.
    const third = await ask();
    expect(third.estimate).toBeGreaterThanOrEqual(second.estimate);
    expectNear(third, await completedAt(third.jobId));
  });
});
