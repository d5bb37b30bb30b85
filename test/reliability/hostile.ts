import { randomUUID } from "node:crypto";
import { EVENT_FIELDS, LIMITS, type TrackEvent, validateEvents } from "@funnel/events";
import { SIGNATURE_HEADER, SIGNATURE_MAX_SKEW_MS, signatureHeaders } from "@funnel/events/signing";
import { type FunnelFixture, Random, storedEvent, USER_AGENTS } from "@funnel/fixtures";
import type { IngestRequest } from "../support/ingest-load";

/**
 * Hostile and replayed requests sent beside a load at a modest pace, as the reliability suite's
 * in-process tests send them one at a time (api/src/reliability: ingest-fuzz.test.ts and
 * limits.test.ts; their generators are fast-check arbitraries local to those files, so the same
 * kinds of values are drawn here from a seeded stream): bodies whose every event is invalid, text
 * that is not JSON or not UTF-8, bodies nested too deep, too many events, bodies over the byte
 * limits, missing, mangled and unknown API keys, and signed edge batches (`/internal/ingest`)
 * replayed, altered, stale, unsigned or signed with another secret. Each must be refused with a
 * 4xx, never a 5xx.
 *
 * Two kinds are answered 202 by contract and must change nothing of what is stored: a good
 * `/track` body of the load delivered a second time (its event ids are the load's, so the writer's
 * dedupe keeps one row each), and the fresh signed edge batches whose captures are replayed (their
 * events are good events: `edgeAccepted` holds their ids, to be counted with the load's).
 */

export interface HostileOptions {
  apiUrl: () => string;
  /** The account's real API key (mangled copies of it are sent too). */
  key: string;
  edgeSecret: string;
  funnel: FunnelFixture;
  requestsPerSecond: number;
  seed: number;
  /** A good `/track` request the load has sent, to deliver again (undefined: none yet). */
  replayable: () => IngestRequest | undefined;
  trackBodyLimitBytes?: number;
  importBodyLimitBytes?: number;
  /** One `/import` body over the byte limit every this many requests (32 MiB each: rare). */
  oversizedImportEvery?: number;
}

export interface HostileReport {
  requests: number;
  startedAt: number;
  finishedAt: number;
  /** Answers by kind and status (`network` for a connection error). */
  answers: Map<string, Map<string, number>>;
  /** Answers outside what the kind allows (first 20 kept with their body). */
  unexpected: { kind: string; status: string; body: string }[];
  unexpectedCount: number;
  serverErrors: number;
  /** Event ids of the fresh signed edge batches answered 202: good events, stored once like the load's. */
  edgeAccepted: Set<string>;
}

interface Probe {
  kind: string;
  path: string;
  init: RequestInit;
  /** Statuses this kind may be answered with. */
  allowed: number[];
  /** On a 202: the answer's accepted count must be this. */
  acceptedEvents?: number;
  onAccepted?: () => void;
}

const TRACK = "/api/v1/analytics/track";
const IMPORT = "/api/v1/analytics/import";
const EDGE = "/internal/ingest";

export class HostileTraffic {
  readonly report: HostileReport;
  readonly done: Promise<HostileReport>;
  private stopped = false;
  private readonly rng: Random;
  /** The last fresh edge batch answered 202, as captured on the wire. */
  private captured: { raw: string; headers: Record<string, string> } | undefined;

  constructor(private readonly options: HostileOptions) {
    this.rng = new Random(options.seed);
    this.report = {
      requests: 0,
      startedAt: Date.now(),
      finishedAt: 0,
      answers: new Map(),
      unexpected: [],
      unexpectedCount: 0,
      serverErrors: 0,
      edgeAccepted: new Set(),
    };
    this.done = this.run();
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<HostileReport> {
    const kinds = this.kinds();
    const every = this.options.oversizedImportEvery ?? 600;
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; !this.stopped; i++) {
      const due = this.report.startedAt + (i * 1000) / this.options.requestsPerSecond;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.stopped) break;
      const make =
        i > 0 && i % every === 0 ? () => this.oversized(IMPORT) : (kinds[i % kinds.length] ?? kinds[0]);
      if (!make) break;
      const probe = await make();
      // At most 8 in flight: a slow API slows this traffic down rather than piling it up.
      while (inFlight.size >= 8) await Promise.race(inFlight);
      const sending = this.send(probe).finally(() => inFlight.delete(sending));
      inFlight.add(sending);
    }
    await Promise.all(inFlight);
    this.report.finishedAt = Date.now();
    return this.report;
  }

  private async send(probe: Probe): Promise<void> {
    const { report } = this;
    report.requests++;
    let status = "network";
    let body = "";
    try {
      const res = await fetch(`${this.options.apiUrl()}${probe.path}`, {
        method: "POST",
        ...probe.init,
        signal: AbortSignal.timeout(30_000),
      });
      status = String(res.status);
      body = await res.text();
    } catch (error) {
      body = String(error);
    }
    const byStatus = report.answers.get(probe.kind) ?? new Map<string, number>();
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    report.answers.set(probe.kind, byStatus);
    if (status.startsWith("5")) report.serverErrors++;
    let expected = probe.allowed.includes(Number(status));
    if (expected && status === "202" && probe.acceptedEvents !== undefined) {
      const answer = JSON.parse(body) as { accepted?: number; rejected?: unknown[] };
      expected = answer.accepted === probe.acceptedEvents && (answer.rejected?.length ?? 0) === 0;
      if (expected) probe.onAccepted?.();
    }
    if (!expected) {
      report.unexpectedCount++;
      if (report.unexpected.length < 20)
        report.unexpected.push({ kind: probe.kind, status, body: body.slice(0, 500) });
    }
  }

  /** One maker per kind; a cycle sends each once. */
  private kinds(): (() => Probe | Promise<Probe>)[] {
    const { key } = this.options;
    const json = (events: unknown[]) => JSON.stringify({ events });
    const importWith = (
      kind: string,
      authorization: string | undefined,
      body: string | Uint8Array,
      allowed: number[],
    ): Probe => ({
      kind,
      path: IMPORT,
      init: {
        headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
        body,
      },
      allowed,
    });
    const track = (kind: string, body: string | Uint8Array, allowed: number[]): Probe => ({
      kind,
      path: TRACK,
      init: { headers: { "content-type": "application/json", "x-forwarded-for": this.ip() }, body },
      allowed,
    });
    const bearer = `Bearer ${key}`;
    return [
      // Every event invalid: a 400 listing each (a /track body past its byte limit: a 413).
      () => importWith("import: every event invalid", bearer, json(this.invalidEvents(1, 20)), [400]),
      () => track("track: every event invalid", json(this.invalidEvents(1, 10)), [400, 413]),
      () => importWith("import: not JSON", bearer, this.notJson(), [400]),
      () => track("track: not JSON", this.notJson(), [400]),
      () => importWith("import: nested too deep", bearer, JSON.stringify({ events: [this.nested()] }), [400]),
      () => track("track: nested too deep", JSON.stringify({ events: [this.nested()] }), [400]),
      () =>
        track(
          "track: too many events",
          json(Array.from({ length: LIMITS.eventsPerTrackRequest + 1 }, () => this.validEvent())),
          [400],
        ),
      () => this.oversized(TRACK),
      // Valid events without a valid key: a 401, and none of them may be stored.
      () => importWith("import: key missing", undefined, json([this.validEvent()]), [401]),
      () =>
        importWith(
          "import: key one character off",
          `Bearer ${offByOne(key)}`,
          json([this.validEvent()]),
          [401],
        ),
      () =>
        importWith(
          "import: key mangled",
          this.rng.pick([
            `Basic ${key}`,
            "Bearer",
            `Bearer ${key} ${key}`,
            `Bearer ${key.toUpperCase()}`,
            "Bearer ' or 1=1 --",
          ]),
          json([this.validEvent()]),
          [401],
        ),
      () => this.freshEdgeBatch(),
      () => this.edge("edge: replayed as captured", (c) => c),
      () =>
        this.edge("edge: replayed, signature upper-cased", (c) => ({
          raw: c.raw,
          headers: { ...c.headers, [SIGNATURE_HEADER]: (c.headers[SIGNATURE_HEADER] ?? "").toUpperCase() },
        })),
      () =>
        this.edge("edge: altered after signing", (c) => {
          const at = this.rng.int(0, c.raw.length - 1);
          const replacement = c.raw[at] === "x" ? "y" : "x";
          return { raw: c.raw.slice(0, at) + replacement + c.raw.slice(at + 1), headers: c.headers };
        }),
      async () => {
        const raw = json([this.edgeEvent()]);
        const headers = await signatureHeaders(
          this.options.edgeSecret,
          raw,
          Date.now() - SIGNATURE_MAX_SKEW_MS - 1_000,
        );
        return {
          kind: "edge: signed too long ago",
          path: EDGE,
          init: edgeInit(raw, headers),
          allowed: [401],
        };
      },
      async () => {
        const raw = json([this.edgeEvent()]);
        const headers = await signatureHeaders(`${this.options.edgeSecret}-not-it`, raw);
        return {
          kind: "edge: signed with another secret",
          path: EDGE,
          init: edgeInit(raw, headers),
          allowed: [401],
        };
      },
      () => ({
        kind: "edge: unsigned",
        path: EDGE,
        init: edgeInit(json([this.edgeEvent()]), {}),
        allowed: [401],
      }),
      () => {
        // A good /track body of the load delivered again: 202, and still one row per event.
        const again = this.options.replayable();
        if (!again) return track("track: not JSON", this.notJson(), [400]);
        return {
          ...track("track: good body delivered again", JSON.stringify({ events: again.events }), [202]),
          acceptedEvents: again.events.length,
        };
      },
    ];
  }

  private ip(): string {
    return `10.${this.rng.int(0, 255)}.${this.rng.int(0, 255)}.${this.rng.int(1, 254)}`;
  }

  /** A valid page view of the funnel, as the load's events are. */
  private validEvent(): TrackEvent {
    const page = this.options.funnel.pages[0];
    return {
      event_type: "page_view",
      event_id: randomUUID(),
      funnel_id: this.options.funnel.id,
      session_id: `hostile-${randomUUID()}`,
      visitor_id: randomUUID(),
      page_id: page?.id ?? randomUUID(),
      url: page?.url ?? "https://shop.example.com/",
      user_agent: USER_AGENTS.chromeWindows,
      timestamp: new Date(Date.now() - this.rng.int(0, 3_600_000)).toISOString(),
    };
  }

  /** `min`–`max` events, each a valid one with one field set to a hostile value or removed, all invalid. */
  private invalidEvents(min: number, max: number): unknown[] {
    const events: unknown[] = [];
    const count = this.rng.int(min, max);
    while (events.length < count) {
      const event: Record<string, unknown> = { ...this.validEvent() };
      const field = this.rng.pick(FIELDS);
      if (this.rng.chance(0.2)) delete event[field];
      // defineProperty, so that "__proto__" becomes an own key that JSON.stringify sends.
      else
        Object.defineProperty(event, field, { value: this.hostileValue(), enumerable: true, writable: true });
      const wire = JSON.parse(JSON.stringify(event)) as unknown;
      // Only events the shared validator refuses: a body of them must be refused whole.
      const verdict = validateEvents([wire], {
        context: { receivedAt: new Date() },
        fromBrowser: false,
        newId: () => "",
      });
      if (verdict.accepted.length === 0) events.push(wire);
    }
    return events;
  }

  private hostileValue(): unknown {
    const r = this.rng;
    switch (r.int(0, 5)) {
      case 0:
        return r.pick([
          "\u0000",
          "a\u0000b",
          "\ud800",
          "x\udc00y",
          "😀",
          "\u202e",
          "' or 1=1 --",
          "=cmd|' /C calc'!A0",
        ]);
      case 1:
        return "x".repeat(r.int(0, 70_000));
      case 2:
        return String.fromCharCode(...Array.from({ length: r.int(0, 40) }, () => r.int(0, 0xffff)));
      case 3:
        return this.nested(r.int(1, 60));
      case 4:
        return r.pick([
          JSON.parse('{"__proto__":{"polluted":true}}'),
          JSON.parse('{"constructor":{"prototype":{"polluted":true}}}'),
        ]);
      default:
        return r.pick([-1, 0, 1.5, 2 ** 31, -(2 ** 53), 1e308, true, null, [], {}]);
    }
  }

  /** Arrays and objects nested `depth` levels (default: past the body's 64). */
  private nested(depth = this.rng.int(LIMITS.bodyDepth + 1, 200)): unknown {
    let value: unknown = "leaf";
    for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { k: value };
    return value;
  }

  /** Text that is not JSON: truncated JSON, random bytes (not UTF-8), or nothing. */
  private notJson(): string | Uint8Array {
    const r = this.rng;
    switch (r.int(0, 3)) {
      case 0:
        return JSON.stringify({ events: [this.validEvent()] }).slice(0, -r.int(1, 20));
      case 1:
        return Uint8Array.from({ length: r.int(1, 200) }, () => r.int(0, 255));
      case 2:
        return "";
      default:
        return `${JSON.stringify({ events: [] })}}`;
    }
  }

  /** A body one byte over the route's limit: a 413 whatever it holds. */
  private oversized(path: typeof TRACK | typeof IMPORT): Probe {
    const limit =
      path === TRACK
        ? (this.options.trackBodyLimitBytes ?? 262_144)
        : (this.options.importBodyLimitBytes ?? 33_554_432);
    const head = '{"events":[],"pad":"';
    const body = `${head}${"x".repeat(limit + 1 - head.length - 2)}"}`;
    const headers: Record<string, string> =
      path === TRACK
        ? { "content-type": "application/json", "x-forwarded-for": this.ip() }
        : { "content-type": "application/json", authorization: `Bearer ${this.options.key}` };
    return {
      kind: path === TRACK ? "track: one byte over the limit" : "import: one byte over the limit",
      path,
      init: { headers, body },
      allowed: [413],
    };
  }

  /** An accepted event as the edge forwards it: a page view, not yet enriched. */
  private edgeEvent(): Record<string, unknown> {
    const now = new Date().toISOString();
    const page = this.options.funnel.pages[0];
    return storedEvent({
      event_type: "page_view",
      funnel_id: this.options.funnel.id,
      session_id: `edge-${randomUUID()}`,
      visitor_id: randomUUID(),
      occurred_at: now,
      received_at: now,
      page_id: page?.id ?? null,
      url: page?.url ?? null,
      user_agent: USER_AGENTS.chromeWindows,
      ip_address: "198.51.100.0",
    });
  }

  /** A fresh signed batch of good events: 202, and its capture is what the next edge kinds replay. */
  private async freshEdgeBatch(): Promise<Probe> {
    const events = Array.from({ length: 5 }, () => this.edgeEvent());
    const raw = JSON.stringify({ events });
    const headers = await signatureHeaders(this.options.edgeSecret, raw);
    return {
      kind: "edge: fresh signed batch",
      path: EDGE,
      init: edgeInit(raw, headers),
      allowed: [202],
      acceptedEvents: events.length,
      onAccepted: () => {
        for (const e of events) this.report.edgeAccepted.add(String(e.event_id));
        this.captured = { raw, headers };
      },
    };
  }

  /** A captured batch, changed by `change`, sent with the capture's signature: a 401. */
  private edge(
    kind: string,
    change: (captured: { raw: string; headers: Record<string, string> }) => {
      raw: string;
      headers: Record<string, string>;
    },
  ): Probe | Promise<Probe> {
    if (!this.captured) return this.freshEdgeBatch();
    const { raw, headers } = change(this.captured);
    return { kind, path: EDGE, init: edgeInit(raw, headers), allowed: [401] };
  }
}

/** Fields a hostile value replaces (those of ingest-fuzz.test.ts). */
const FIELDS = [...EVENT_FIELDS, "__proto__", "constructor"];

function edgeInit(raw: string, headers: Record<string, string>): RequestInit {
  return { headers: { "content-type": "application/json", ...headers }, body: raw };
}

/** The key with its last character changed. */
function offByOne(key: string): string {
  const last = key.at(-1) ?? "a";
  return `${key.slice(0, -1)}${last === "a" ? "b" : "a"}`;
}
