/**
 * The embedded default (no DATABASE_URL, no REDIS_URL: PGlite and the in-process queue) killed
 * (SIGKILL) while a stream of imports is being answered and written, then started again on the
 * same data directory: every event answered 202 is stored exactly once, as on Redis
 * (faults-processes.test.ts). The process is its own queue's store, so what it answered must be in
 * its data directory before the answer.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createDatabase, queryRows } from "@funnel/db/client";
import { sql } from "@funnel/db/orm";
import { springSale } from "@funnel/fixtures";
import { afterEach, describe, expect, it } from "vitest";
import { type ApiProcess, freePort, startApi } from "../support/api-process";
import { funnelTraffic, IngestLoad } from "../support/ingest-load";
import { repoRoot } from "../support/services";
import { sleep } from "./scenario";

/** Events sent: enough for a backlog in the queue at the kill, few enough for a run under two minutes. */
const EVENTS = Number(process.env.FAULTS_EMBEDDED_EVENTS ?? 8_000);

let dataDir: string | undefined;
let api: ApiProcess | undefined;

afterEach(async () => {
  await api?.stop("SIGKILL");
  api = undefined;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

/**
 * Jobs waiting or running in the API's in-process queue, from its /metrics. A connection the busy
 * process closed while idle ("other side closed", a reset) is tried again.
 */
async function queueDepth(url: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      const text = await (await fetch(`${url}/metrics`)).text();
      const depth = /^funnel_ingest_queue_depth (\S+)$/m.exec(text)?.[1];
      if (depth === undefined) throw new Error("no funnel_ingest_queue_depth in /metrics");
      return Number(depth);
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(200);
    }
  }
}

describe("the embedded default killed under load", () => {
  it("the API killed (SIGKILL) with imports in flight and started again: every accepted event stored once", async () => {
    const startedAt = Date.now();
    /** Seconds from the start of the test to each step, printed with the figures. */
    const steps: Record<string, number> = {};
    const step = (name: string) => {
      steps[name] = (Date.now() - startedAt) / 1000;
    };
    dataDir = mkdtempSync(join(tmpdir(), "funnel-faults-embedded-"));
    const env = {
      DATA_DIR: dataDir,
      SEED_DEMO: "false",
      PORT: String(await freePort()),
      // The worker's writes start up to 2 s apart (a setting production has too, 100 ms by default),
      // so accepted events wait in the queue at the kill however fast this machine writes.
      INGEST_WRITE_INTERVAL_MS: "2000",
    };
    // The account's key, made before the API holds the data directory (as the quick start's CLI would).
    const created = execFileSync(
      resolve(repoRoot, "node_modules/.bin/tsx"),
      ["api/src/cli/keys-create.ts", randomUUID()],
      { cwd: repoRoot, env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "silent", ...env }, encoding: "utf8" },
    );
    const key = created.trim().split("\n").pop() ?? "";
    expect(key).toMatch(/^fa_live_/);
    step("keyCreated");

    api = await startApi(env, { readyTimeoutMs: 120_000 });
    step("apiReady");
    const put = await fetch(`${api.url}/api/v1/funnels/${springSale.id}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ name: springSale.name, steps: springSale.steps, pages: springSale.pages }),
    });
    expect(put.status).toBe(200);

    // Faster than the embedded database writes, so the queue holds a backlog when the process dies.
    const load = new IngestLoad({
      apiUrl: () => api?.url ?? "",
      key,
      requests: funnelTraffic({ events: EVENTS, seed: 208, trackEvery: 0, importBatch: 500 }),
      eventsPerSecond: 5_000,
      lanes: 4,
    });
    let depthAtKill = 0;
    let acceptedAtKill = 0;
    let restartedAt = 0;
    try {
      await load.reached(EVENTS * 0.3);
      // Kill only while the queue holds accepted events not yet written.
      for (let i = 0; i < 400 && depthAtKill === 0; i++) {
        depthAtKill = await queueDepth(api.url);
        if (depthAtKill === 0) await sleep(25);
      }
      acceptedAtKill = load.report.accepted.size;
      step("killed");
      await api.stop("SIGKILL");
      api = await startApi(env, { readyTimeoutMs: 120_000 });
      restartedAt = Date.now();
      step("restarted");
    } catch (error) {
      load.stop();
      await load.done;
      throw error;
    }
    const report = await load.done;
    step("loadDone");

    // Drained: the queue read empty twice in a row, after the load ended.
    const deadline = Date.now() + 120_000;
    for (let empty = 0; empty < 2; ) {
      empty = (await queueDepth(api.url)) === 0 ? empty + 1 : 0;
      if (Date.now() > deadline) throw new Error("the queue did not drain within two minutes");
      await sleep(250);
    }
    const drainedAt = Date.now();
    step("drained");
    // Stopped before the data directory is read: PGlite is one process's database.
    expect(await api.stop("SIGTERM"), "graceful stop after the drain").toBe(0);
    api = undefined;

    const database = await createDatabase({ dataDir: join(dataDir, "pglite") });
    try {
      const ids = [...report.accepted];
      const [row] = await queryRows<{
        stored: number;
        missing: number;
        duplicates: number;
        unacknowledged: number;
      }>(
        database.db,
        sql`with accepted as (select unnest(${sql.param(ids)}::text[])::uuid as event_id)
          select
            (select count(*)::int from analytics_events) as stored,
            (select count(*)::int from accepted a
              where not exists (select 1 from analytics_events e where e.event_id = a.event_id)) as missing,
            (select (count(*) - count(distinct event_id))::int from analytics_events) as duplicates,
            (select count(*)::int from analytics_events e
              where not exists (select 1 from accepted a where a.event_id = e.event_id)) as unacknowledged`,
      );
      const figures = {
        sent: report.sentEvents,
        accepted: ids.length,
        acceptedAtKill,
        queueDepthAtKill: depthAtKill,
        ...row,
        answers: Object.fromEntries(report.answers),
        abandonedRequests: report.abandonedRequests,
        loadSeconds: (report.finishedAt - report.startedAt) / 1000,
        drainedSecondsAfterRestart: (drainedAt - restartedAt) / 1000,
        steps,
      };
      console.log(`[faults] embedded-api-sigkill ${JSON.stringify(figures)}`);
      expect(depthAtKill, "jobs in the queue at the kill").toBeGreaterThan(0);
      expect(report.sentEvents).toBeGreaterThanOrEqual(EVENTS);
      expect(report.abandonedRequests, "requests never answered 202").toBe(0);
      expect(report.partialAnswers, "202s that did not accept every event").toBe(0);
      expect(ids.length).toBe(report.sentEvents);
      expect(row?.missing, "accepted events lost").toBe(0);
      expect(row?.duplicates, "rows stored twice").toBe(0);
    } finally {
      await database.close();
    }
  }, 300_000);
});
