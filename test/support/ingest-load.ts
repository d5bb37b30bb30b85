import { randomUUID } from "node:crypto";
import type { TrackEvent } from "@funnel/events";
import { generateTraffic, springSale } from "@funnel/fixtures";

/**
 * A client that sends events to the real API at a steady pace, as a careful producer would: it
 * keeps every event's id, retries a request that was not answered 202 (refused, 5xx, connection
 * reset) with the same body until it is, and remembers exactly which event ids were answered 202.
 */

export type IngestRoute = "import" | "track";

export interface IngestRequest {
  route: IngestRoute;
  events: TrackEvent[];
}

export interface LoadOptions {
  /** Read for every attempt, so a restarted API on another port could be followed. */
  apiUrl: () => string;
  key: string;
  /** Requests in order; request i is sent once the events before it fill the pace. */
  requests: Iterable<IngestRequest>;
  eventsPerSecond: number;
  /** Requests in flight at most (retries included). */
  lanes?: number;
  /** A request still not answered 202 after this long is given up (counted as `abandoned`). */
  retryForMs?: number;
}

export interface LoadReport {
  /** Event ids answered 202. */
  accepted: Set<string>;
  sentEvents: number;
  /** Answers by route and status (`import 202`, `track network` for a connection error), every attempt counted. */
  answers: Map<string, number>;
  retriedRequests: number;
  abandonedRequests: number;
  /** A 202 whose `accepted` count or `rejected` list did not match the events sent. */
  partialAnswers: number;
  /** Times (ms since epoch) of answers other than 202. */
  refusedAt: number[];
  /** Each 202: when, and how many events it accepted. */
  acceptedAt: { at: number; events: number }[];
  /** Each attempt answered 202: its route and milliseconds from sending the request to its parsed answer. */
  latencies: { route: IngestRoute; ms: number }[];
  startedAt: number;
  finishedAt: number;
}

export class IngestLoad {
  readonly report: LoadReport;
  readonly done: Promise<LoadReport>;
  private readonly waiters: { events: number; resolve: () => void }[] = [];
  private stopped = false;

  constructor(private readonly options: LoadOptions) {
    this.report = {
      accepted: new Set(),
      sentEvents: 0,
      answers: new Map(),
      retriedRequests: 0,
      abandonedRequests: 0,
      partialAnswers: 0,
      refusedAt: [],
      acceptedAt: [],
      latencies: [],
      startedAt: Date.now(),
      finishedAt: 0,
    };
    this.done = this.run();
  }

  /** Resolves once at least `events` events have been answered 202. */
  reached(events: number): Promise<void> {
    if (this.report.accepted.size >= events) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ events, resolve }));
  }

  /** Sends nothing new; requests in flight still finish (with their retries). */
  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<LoadReport> {
    const iterator = this.options.requests[Symbol.iterator]();
    const start = Date.now();
    let scheduledEvents = 0;
    const lane = async () => {
      for (;;) {
        if (this.stopped) return;
        const next = iterator.next();
        if (next.done) return;
        const due = start + (scheduledEvents / this.options.eventsPerSecond) * 1000;
        scheduledEvents += next.value.events.length;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await this.send(next.value);
      }
    };
    await Promise.all(Array.from({ length: this.options.lanes ?? 8 }, lane));
    this.report.finishedAt = Date.now();
    for (const w of this.waiters.splice(0)) w.resolve();
    return this.report;
  }

  private async send(request: IngestRequest): Promise<void> {
    const { report } = this;
    report.sentEvents += request.events.length;
    const body = JSON.stringify({ events: request.events });
    // One client address per /track request, so the per-IP limit measures nothing here.
    const ip = `10.${rand(256)}.${rand(256)}.${1 + rand(254)}`;
    const giveUpAt = Date.now() + (this.options.retryForMs ?? 180_000);
    for (let attempt = 0; ; attempt++) {
      if (attempt === 1) report.retriedRequests++;
      let status = "network";
      let answer: unknown;
      const sentAt = performance.now();
      try {
        const res = await fetch(`${this.options.apiUrl()}/api/v1/analytics/${request.route}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(request.route === "import"
              ? { authorization: `Bearer ${this.options.key}` }
              : { "x-forwarded-for": ip }),
          },
          body,
          signal: AbortSignal.timeout(30_000),
        });
        status = String(res.status);
        answer = await res.json().catch(() => undefined);
      } catch {
        // connection refused or reset, or no answer in time: retried like a 503
      }
      const answerKey = `${request.route} ${status}`;
      report.answers.set(answerKey, (report.answers.get(answerKey) ?? 0) + 1);
      if (status === "202") {
        report.latencies.push({ route: request.route, ms: performance.now() - sentAt });
        const { accepted, rejected } = (answer ?? {}) as { accepted?: number; rejected?: unknown[] };
        if (accepted !== request.events.length || (rejected?.length ?? 0) > 0) report.partialAnswers++;
        for (const event of request.events) if (event.event_id) report.accepted.add(event.event_id);
        report.acceptedAt.push({ at: Date.now(), events: request.events.length });
        this.notify();
        return;
      }
      report.refusedAt.push(Date.now());
      // A 4xx other than 429 is the client's fault: retrying the same body cannot help.
      if (status.startsWith("4") && status !== "429") return;
      if (Date.now() > giveUpAt) {
        report.abandonedRequests++;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
    }
  }

  private notify(): void {
    const size = this.report.accepted.size;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w && w.events <= size) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }
}

function rand(n: number): number {
  return Math.floor(Math.random() * n);
}

/**
 * Realistic funnel traffic (`@funnel/fixtures`) in requests: `/import` requests of `importBatch`
 * events, and every `trackEvery`-th request a `/track` one of `trackBatch` events. Each event gets a
 * fresh random id, so no two requests of a run (or of two runs) share one.
 */
export function* funnelTraffic(options: {
  events: number;
  seed: number;
  importBatch?: number;
  trackEvery?: number;
  trackBatch?: number;
}): Generator<IngestRequest> {
  const importBatch = options.importBatch ?? 1_000;
  const trackEvery = options.trackEvery ?? 10;
  const trackBatch = options.trackBatch ?? 10;
  const now = Date.now();
  let pending: TrackEvent[] = [];
  let produced = 0;
  let seed = options.seed;
  let index = 0;
  while (produced < options.events) {
    if (pending.length < importBatch) {
      const more = generateTraffic({
        funnel: springSale,
        from: new Date(now - 7 * 86_400_000),
        to: new Date(now),
        visitors: 200,
        seed: seed++,
        retryShare: 0,
      });
      pending = pending.concat(more.map((e) => ({ ...e, event_id: randomUUID() })));
      continue;
    }
    const route: IngestRoute = trackEvery > 0 && ++index % trackEvery === 0 ? "track" : "import";
    const size = Math.min(route === "track" ? trackBatch : importBatch, options.events - produced);
    // Refunds come from the merchant's server: a /track request takes the browser's events only.
    const events =
      route === "track"
        ? pending.filter((e) => e.event_type !== "refund").slice(0, size)
        : pending.splice(0, size);
    if (route === "track") pending = pending.filter((e) => !events.includes(e));
    produced += events.length;
    yield { route, events };
  }
}
