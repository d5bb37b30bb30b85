/**
 * Five minutes at a steady rate near the measured capacity, through the real API and worker
 * processes, with hostile and replayed requests mixed in: the API's and the worker's memory and the
 * queue's backlog level off, every good request is answered 202, every hostile one a 4xx (never a
 * 5xx), and every accepted event is stored exactly once. Prints the good requests' latencies.
 */

import type { TrackEvent } from "@funnel/events";
import { springSale } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DedicatedCluster, dedicatedCluster } from "../support/dedicated-database";
import { funnelTraffic, IngestLoad, type IngestRequest } from "../support/ingest-load";
import { HostileTraffic } from "./hostile";
import { checkReports, expectReportsAsReference, recording } from "./scenario";
import { EDGE_SIGNING_SECRET, metricValues, residentBytes, type Stack, startStack } from "./stack";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
/**
 * A rate the one worker process holds for five minutes on the 2-core machine beside the hostile
 * mix: it held 3,000 and 3,500 once the database's checkpoints were spaced out (2026-12-01,
 * scripts/services/timescaledb.sh); with PostgreSQL's default max_wal_size it fell behind at both
 * for minutes, and held 2,000 (docs/reliability.md).
 */
const EVENTS_PER_SECOND = Number(process.env.SOAK_EVENTS_PER_SECOND ?? 3_000);
const SAMPLE_MS = 5_000;
/** The API heap is read every second as well: its per-minute minimum is the floor the GC leaves. */
const HEAP_SAMPLE_MS = 1_000;
/** Hostile and replayed requests per second beside the load (hostile.ts); 0 sends none. */
const HOSTILE_PER_SECOND = Number(process.env.SOAK_HOSTILE_PER_SECOND ?? 20);
const MiB = 1024 * 1024;
/** Ingest jobs the worker holds (INGEST_CONCURRENCY): the product's default, unlike the fault files' 4. */
const INGEST_CONCURRENCY = Number(process.env.SOAK_INGEST_CONCURRENCY ?? 64);

interface Sample {
  second: number;
  apiRssMiB: number;
  apiHeapMiB: number;
  workerRssMiB: number;
  queueJobs: number;
  /** Events answered 202 and not yet stored. */
  backlogEvents: number;
}

let cluster: DedicatedCluster;
let stack: Stack | undefined;

beforeAll(() => {
  cluster = dedicatedCluster();
});

afterAll(async () => {
  await stack?.close();
});

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
/** Samples taken in minute `m` (1-based) of the run. */
const minute = <T extends { second: number }>(samples: T[], m: number) =>
  samples.filter((s) => s.second > (m - 1) * 60 && s.second <= m * 60);
/** The lowest heap reading of minute `m`: what survived the collections (NaN without samples). */
const heapFloor = (heap: { second: number; heapMiB: number }[], m: number) => {
  const values = minute(heap, m).map((h) => h.heapMiB);
  return values.length === 0 ? Number.NaN : Math.min(...values);
};
/** The `p`-th percentile (0–100), nearest rank, in ms to a tenth; NaN when there are none. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const value = sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1] ?? Number.NaN;
  return Math.round(value * 10) / 10;
}

describe("steady load", () => {
  it(`${EVENTS_PER_SECOND} events/s for ${SECONDS} s: memory and queue level off, every event stored once`, async () => {
    stack = await startStack(cluster, { appendfsync: "everysec", ingestConcurrency: INGEST_CONCURRENCY });
    const current = stack;
    const sent = new Map<string, TrackEvent>();
    let lastTrack: IngestRequest | undefined;
    function* keepingLastTrack(requests: Iterable<IngestRequest>): Generator<IngestRequest> {
      for (const request of requests) {
        if (request.route === "track") lastTrack = request;
        yield request;
      }
    }
    const load = new IngestLoad({
      apiUrl: () => current.api.url,
      key: current.database.key,
      requests: keepingLastTrack(
        recording(
          funnelTraffic({
            events: EVENTS_PER_SECOND * SECONDS,
            seed: 5_000,
            importBatch: 500,
            trackEvery: 4,
            trackBatch: 20,
          }),
          sent,
        ),
      ),
      eventsPerSecond: EVENTS_PER_SECOND,
      retryForMs: 60_000,
    });
    const hostile =
      HOSTILE_PER_SECOND > 0
        ? new HostileTraffic({
            apiUrl: () => current.api.url,
            key: current.database.key,
            edgeSecret: EDGE_SIGNING_SECRET,
            funnel: springSale,
            requestsPerSecond: HOSTILE_PER_SECOND,
            seed: 5_001,
            replayable: () => lastTrack,
          })
        : undefined;

    const samples: Sample[] = [];
    const heap: { second: number; heapMiB: number }[] = [];
    const started = Date.now();
    let finished = false;
    void load.done.then(() => {
      finished = true;
      hostile?.stop();
    });
    const heapSampling = (async () => {
      while (!finished) {
        await Promise.race([new Promise((r) => setTimeout(r, HEAP_SAMPLE_MS)), load.done]);
        if (finished) return;
        const text = await (await fetch(`${current.api.url}/metrics`)).text();
        const used = metricValues(text, ["nodejs_heap_size_used_bytes"]).nodejs_heap_size_used_bytes;
        heap.push({ second: (Date.now() - started) / 1000, heapMiB: (used ?? Number.NaN) / MiB });
      }
    })();
    while (!finished) {
      await Promise.race([new Promise((r) => setTimeout(r, SAMPLE_MS)), load.done]);
      if (finished) break;
      const metrics = metricValues(await (await fetch(`${current.api.url}/metrics`)).text(), [
        "process_resident_memory_bytes",
        "nodejs_heap_size_used_bytes",
        "funnel_ingest_queue_depth",
      ]);
      const [row] = await current.sql<{ n: number }[]>`select count(*)::int as n from analytics_events`;
      samples.push({
        second: Math.round((Date.now() - started) / 1000),
        apiRssMiB: (metrics.process_resident_memory_bytes ?? Number.NaN) / MiB,
        apiHeapMiB: (metrics.nodejs_heap_size_used_bytes ?? Number.NaN) / MiB,
        workerRssMiB: residentBytes(current.worker.child.pid) / MiB,
        queueJobs: metrics.funnel_ingest_queue_depth ?? Number.NaN,
        backlogEvents: load.report.accepted.size + (hostile?.report.edgeAccepted.size ?? 0) - (row?.n ?? 0),
      });
    }
    const report = await load.done;
    await heapSampling;
    const hostileReport = await hostile?.done;
    // The fresh signed edge batches are good events too (their captures are what is replayed).
    const accepted = new Set([...report.accepted, ...(hostileReport?.edgeAccepted ?? [])]);
    const settled = await current.settle(accepted.size, 120_000);
    const accounting = await current.account(accepted);
    // Every report route against the reference over all the stored events, as after each fault.
    const reports = await checkReports(current, settled, sent, undefined, hostileReport?.edgeAccepted);

    const rows = samples.map((s) => ({
      s: s.second,
      "api rss MiB": Math.round(s.apiRssMiB),
      "api heap MiB": Math.round(s.apiHeapMiB),
      "worker rss MiB": Math.round(s.workerRssMiB),
      "queue jobs": s.queueJobs,
      "backlog events": s.backlogEvents,
    }));
    console.table(rows);
    const seconds = (report.finishedAt - report.startedAt) / 1000;
    const last = Math.ceil(SECONDS / 60);
    const latency = (route?: "import" | "track") => {
      const ms = report.latencies.filter((l) => route === undefined || l.route === route).map((l) => l.ms);
      return { p50: percentile(ms, 50), p99: percentile(ms, 99), n: ms.length };
    };
    const heapBoundMiB = Math.round(heapFloor(heap, 2) * 1.25 + 32);
    const summary = {
      eventsPerSecond: EVENTS_PER_SECOND,
      achievedEventsPerSecond: Math.round(report.accepted.size / seconds),
      seconds,
      ...accounting,
      answers: Object.fromEntries(report.answers),
      drainedSecondsAfterLoad: (settled.at - report.finishedAt) / 1000,
      /** Good requests answered 202: milliseconds from sending to the parsed answer. */
      latencyMs: { all: latency(), import: latency("import"), track: latency("track") },
      hostile: hostileReport && {
        requests: hostileReport.requests,
        perSecond:
          Math.round(
            (hostileReport.requests / ((hostileReport.finishedAt - hostileReport.startedAt) / 1000)) * 10,
          ) / 10,
        unexpected: hostileReport.unexpectedCount,
        serverErrors: hostileReport.serverErrors,
        edgeEventsAccepted: hostileReport.edgeAccepted.size,
        answers: Object.fromEntries(
          [...hostileReport.answers].map(([kind, byStatus]) => [kind, Object.fromEntries(byStatus)]),
        ),
      },
      reports: reports.summary,
      ingestConcurrency: INGEST_CONCURRENCY,
      heapBoundMiB,
      byMinute: Array.from({ length: last }, (_, i) => i + 1).map((m) => {
        const ms = minute(samples, m);
        return {
          minute: m,
          apiRssMiB: Math.round(mean(ms.map((s) => s.apiRssMiB))),
          apiHeapMiB: Math.round(mean(ms.map((s) => s.apiHeapMiB))),
          apiHeapFloorMiB: Math.round(heapFloor(heap, m)),
          workerRssMiB: Math.round(mean(ms.map((s) => s.workerRssMiB))),
          queueJobs: Math.round(mean(ms.map((s) => s.queueJobs)) * 10) / 10,
          backlogEvents: Math.round(mean(ms.map((s) => s.backlogEvents))),
        };
      }),
    };
    console.log(`[faults] soak ${JSON.stringify(summary)}`);

    // The load held its pace and every request was taken.
    expect(
      [...report.answers.keys()].filter((k) => !k.endsWith(" 202")),
      "answers other than 202",
    ).toEqual([]);
    expect(summary.achievedEventsPerSecond).toBeGreaterThanOrEqual(EVENTS_PER_SECOND * 0.95);
    // Exactly once, hostile traffic or not: every good event (the load's and the fresh edge
    // batches') stored once, and nothing else: no event of a refused request, no second row for a
    // replayed body or batch.
    expect(accounting).toMatchObject({ missing: 0, duplicateRows: 0, storedUnacknowledged: 0 });
    expect(settled.queue.failed).toBe(0);
    expectReportsAsReference(reports);

    if (hostile && hostileReport) {
      // Each hostile kind answered as it must be (a 4xx; 202 for a good body delivered again and
      // for the fresh edge batches), never a 5xx, at about the pace asked for.
      expect(hostileReport.unexpected, "hostile requests answered otherwise").toEqual([]);
      expect(hostileReport.serverErrors, "5xx answers to hostile requests").toBe(0);
      expect(hostileReport.requests).toBeGreaterThanOrEqual(HOSTILE_PER_SECOND * seconds * 0.9);
      // 18 kinds in every cycle, the good /track body delivered again, the oversized /import every 30 s.
      expect(hostileReport.answers.size).toBeGreaterThanOrEqual(SECONDS >= 60 ? 20 : 19);
      expect(hostileReport.edgeAccepted.size).toBeGreaterThan(0);
    }

    // Level off: the last minute against the second (the first is warm-up), and no climb through
    // the last three minutes.
    const early = minute(samples, 2);
    const late = minute(samples, last);
    expect(early.length).toBeGreaterThan(0);
    expect(late.length).toBeGreaterThan(0);
    // Resident memory moves slowly: the mean of each minute's samples.
    for (const field of ["apiRssMiB", "workerRssMiB"] as const) {
      const before = mean(early.map((s) => s[field]));
      const after = mean(late.map((s) => s[field]));
      expect(after, `${field}: last minute against the second`).toBeLessThanOrEqual(before * 1.25 + 32);
      const climbing = [last - 2, last - 1, last].map((m) => mean(minute(samples, m).map((s) => s[field])));
      const [a = 0, b = 0, c = 0] = climbing;
      expect(a < b && b < c && c > a * 1.1 + 16, `${field} still climbing: ${climbing.join(", ")}`).toBe(
        false,
      );
    }
    // The heap is a sawtooth: what it holds between two collections is garbage, and the mean of a
    // minute's readings depends on where they fall in the teeth (one run in four failed on it with
    // every event stored). Its floor, the lowest of the minute's 60 readings, is what survived the
    // collections. A leak survives every collection, so it raises the floor itself, minute after
    // minute: one retaining 100 bytes per event (21 MiB a minute at 3,500 events/s) adds 63 MiB
    // from the second minute to the fifth, past the bound (1.25 × the second minute's floor + 32
    // MiB) for any floor under 124 MiB (second-minute floors measured on 2026-11-30: 60–84 MiB,
    // first-minute ones 61–76 MiB; the figures line prints each minute's floor and the bound). The
    // floors still scatter, by up to 28 MiB between minutes of one run (a major collection or two a
    // minute, and whatever requests are in flight at it), so a climb through the last three minutes
    // must exceed that to count.
    const floors = [2, last - 2, last - 1, last].map((m) => heapFloor(heap, m));
    const [floorEarly = 0, a = 0, b = 0, c = 0] = floors;
    expect(minute(heap, 2).length).toBeGreaterThan(30);
    expect(c, "API heap floor: last minute against the second").toBeLessThanOrEqual(floorEarly * 1.25 + 32);
    expect(a < b && b < c && c > a * 1.1 + 32, `API heap floor still climbing: ${[a, b, c].join(", ")}`).toBe(
      false,
    );
    const backlogBefore = mean(early.map((s) => s.backlogEvents));
    const backlogAfter = mean(late.map((s) => s.backlogEvents));
    // The worker keeps up: the backlog stays within a few seconds of traffic and does not grow.
    expect(backlogAfter, "backlog of accepted events not yet stored").toBeLessThanOrEqual(
      Math.max(backlogBefore * 1.5, EVENTS_PER_SECOND * 2),
    );
    expect(Math.max(...late.map((s) => s.queueJobs))).toBeLessThanOrEqual(EVENTS_PER_SECOND / 50);
  });
});
