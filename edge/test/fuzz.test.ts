import {
  type AcceptedEvent,
  LIMITS,
  nestsDeeperThan,
  splitBody,
  trackEvent,
  validateEvents,
} from "@funnel/events";
import script, { version } from "@funnel/tracker/script";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRACK_BODY_LIMIT_BYTES } from "../src/routes/track";
import { waitFor } from "./api-stub";
import {
  batchItem,
  dispatch,
  type ErrorJson,
  type Expected,
  errorJson,
  expectFieldsNamed,
  expectForwardedAsSent,
  FUZZ_FUNNEL,
  FUZZ_SEED,
  forwardable,
  fuzzIp,
  fuzzParameters,
  hostileString,
  type Item,
  isPostgresText,
  leanApiStub,
  nested,
  oracle,
  otherContentType,
  post,
  prototypeKeys,
  type SentRequest,
  slash24,
  spoofHeaders,
  textContentType,
  textsOf,
  userAgentHeader,
  validEvent,
} from "./fuzz-support";
import { pageView, track } from "./support";

/**
 * Hostile requests to every route of the edge worker (POST and OPTIONS /api/v1/analytics/track,
 * GET /t.js, anything else), inside workerd with the real local Durable Object and Queue. Whatever
 * arrives: never a 5xx; every 4xx is the shared JSON error body, a 400 naming the body, `events`, or
 * each refused event's index and fields, as the shared validator (packages/events) decides; valid
 * events beside invalid ones are answered 202 and reach the API stub exactly once with their fields
 * unchanged; nothing refused, and nothing the API's /internal/ingest would refuse, is forwarded; and
 * client-sent address headers never change the address an event is counted or stored under.
 */

let api: ReturnType<typeof leanApiStub>;
beforeAll(() => {
  api = leanApiStub();
});
afterAll(() => api.restore());

/** Events the worker accepted, by key (see keyOf): each must reach the API once, as sent. */
const accepted = new Map<string, Expected>();
/** Ids of events the worker refused: none may ever reach the API as an event. */
const refusedIds = new Set<string>();

/** An accepted event is known by its id, else by its (unique) session or visitor id. */
function keyOf(event: Record<string, unknown>): string {
  if (typeof event.event_id === "string") return `id:${event.event_id}`;
  if (String(event.session_id).startsWith("fz-")) return `session:${event.session_id}`;
  return `visitor:${String(event.visitor_id)}`;
}

function matchOf(event: AcceptedEvent): string | undefined {
  return [`id:${event.event_id}`, `session:${event.session_id}`, `visitor:${event.visitor_id}`].find((k) =>
    accepted.has(k),
  );
}

function refuse(values: unknown[]): void {
  for (const value of values) {
    const id = (value as { event_id?: unknown } | null)?.event_id;
    if (typeof id === "string") refusedIds.add(id);
  }
}

/** The forwarded events of this file, by the key of the accepted event each one is. */
function forwardedByKey(): Map<string, AcceptedEvent[]> {
  const byKey = new Map<string, AcceptedEvent[]>();
  for (const event of api.events) {
    const key = matchOf(event);
    if (key) byKey.set(key, [...(byKey.get(key) ?? []), event]);
  }
  return byKey;
}

/** Nothing refused was forwarded as an event, nor anything of the fuzz funnel that was not accepted. */
function expectNothingUnexpected(): void {
  for (const event of api.events) {
    expect(refusedIds.has(event.event_id), `refused event ${event.event_id} was forwarded`).toBe(false);
    if (event.funnel_id === FUZZ_FUNNEL)
      expect(matchOf(event), `forwarded an event that was not accepted: ${event.session_id}`).toBeDefined();
  }
}

/** Waits for the events of `keys` to reach the API stub, then checks each arrived once, as sent. */
async function expectDelivered(keys: string[]): Promise<void> {
  const arrived = await waitFor(
    forwardedByKey,
    (m) => keys.every((k) => (m.get(k)?.length ?? 0) >= 1),
    30_000,
  );
  for (const key of keys) {
    const events = arrived.get(key) ?? [];
    expect(events.length, `${key} forwarded exactly once`).toBe(1);
    expectForwardedAsSent(events[0] as AcceptedEvent, accepted.get(key) as Expected);
  }
  expectNothingUnexpected();
}

/** Whether a refused event's errors all name the one field made hostile (when that alone broke it). */
function expectMutatedFieldNamed(item: Item | undefined, errors: { field: string }[]): void {
  if (!item?.mutated || item.mutated === "event_type" || !trackEvent.safeParse(item.base).success) return;
  const baseOk = validateEvents([JSON.parse(JSON.stringify(item.base))], {
    context: { receivedAt: new Date() },
    fromBrowser: true,
    newId: () => "",
  });
  if (baseOk.accepted.length !== 1) return;
  for (const { field } of errors) expect(field.split(".")[0], `errors of ${item.mutated}`).toBe(item.mutated);
}

const bytesOf = (text: string) => new TextEncoder().encode(text).byteLength;

/** The events a body holds, if it is JSON at all: none of them may be forwarded when it is refused. */
function itemsOf(text: string): unknown[] {
  try {
    const body = JSON.parse(text) as { events?: unknown } | null;
    return Array.isArray(body?.events) ? body.events : [body];
  } catch {
    return [];
  }
}

interface Answer {
  /** The body as the worker decodes it (UTF-8, invalid sequences replaced). */
  text: string;
  bytes: number;
  /** The generated items, when known, for their mutation. */
  items?: Item[];
  request: SentRequest;
  sentAt: number;
  /** Keys of the events accepted in this run are added here. */
  keys: string[];
}

/**
 * The answer the contract requires for this body, checked; what it accepted is registered to be
 * checked at the API stub, what it refused is remembered as never to be forwarded.
 */
async function expectTrackAnswer(response: Response, a: Answer): Promise<void> {
  expect(response.status, "never a 5xx").toBeLessThan(500);
  if (a.request.origin) expect(response.headers.get("access-control-allow-origin")).toBe("*");
  if (a.bytes > TRACK_BODY_LIMIT_BYTES) {
    expect((await errorJson(response, 413)).error.code).toBe("PAYLOAD_TOO_LARGE");
    refuse(itemsOf(a.text));
    return;
  }
  let body: unknown;
  try {
    body = JSON.parse(a.text);
  } catch {
    expect((await errorJson(response, 400)).error.details).toEqual([
      { field: "body", message: "must be valid JSON" },
    ]);
    return;
  }
  if (nestsDeeperThan(body, LIMITS.bodyDepth)) {
    const json = await errorJson(response, 400);
    expect(json.error.details).toEqual([{ field: "body", message: expect.stringContaining("nest") }]);
    refuse(itemsOf(a.text));
    return;
  }
  const split = splitBody(body, LIMITS.eventsPerTrackRequest);
  if (!split.ok) {
    refuse(itemsOf(a.text));
    const json = await errorJson(response, 400);
    expect(json.error.details).toEqual(split.errors);
    expect(["body", "events"]).toContain(json.error.details?.[0]?.field);
    return;
  }
  const items = split.events;
  const expected = oracle(items);
  a.items?.forEach((item, index) => {
    if (item.valid) expect(expected.valid, `valid event ${index} accepted`).toContain(index);
  });
  const check = (details: ErrorJson["error"]["details"]) => {
    expect(details?.map((d) => d.index)).toEqual(expected.invalid);
    for (const d of details ?? []) expectMutatedFieldNamed(a.items?.[d.index ?? -1], d.errors ?? []);
  };
  refuse(expected.invalid.map((i) => items[i]));
  if (expected.valid.length === 0) {
    const json = await errorJson(response, 400);
    expect(json.error.code).toBe("INVALID");
    expectFieldsNamed(json.error.details);
    check(json.error.details);
    return;
  }
  expect(response.status).toBe(202);
  const json = (await response.json()) as { accepted: number; rejected: ErrorJson["error"]["details"] };
  expect(json.accepted).toBe(expected.valid.length);
  expectFieldsNamed(json.rejected, false);
  check(json.rejected);
  for (const index of expected.valid) {
    const sent = items[index] as Record<string, unknown>;
    const key = keyOf(sent);
    expect(accepted.has(key), `generated events are unique: ${key}`).toBe(false);
    accepted.set(key, {
      sent,
      forwardedIp: slash24(a.request.ip),
      userAgent: a.request.userAgent,
      country: a.request.country,
      sentAt: a.sentAt,
    });
    a.keys.push(key);
  }
}

const requestHeaders = fc.record({
  userAgent: userAgentHeader,
  contentType: textContentType,
  country: fc.option(fc.constantFrom("DE", "FR", "BR", "XX"), { nil: undefined }),
  spoof: spoofHeaders,
  origin: fc.option(fc.constantFrom("https://shop.example.com", "null", "http://localhost:3000"), {
    nil: undefined,
  }),
  odd: fc.record(
    {
      "content-encoding": fc.constantFrom("gzip", "br", "deflate", "identity", "x-unknown"),
      "x-request-id": fc.oneof(fc.string({ maxLength: 300 }), fc.constant("a".repeat(300))),
      accept: fc.constantFrom("*/*", "text/html", "application/xml", ""),
      "x-http-method-override": fc.constantFrom("GET", "DELETE", "PUT"),
      cookie: fc.string({ maxLength: 100 }),
    },
    { requiredKeys: [] },
  ),
});

type RequestHeaders = typeof requestHeaders extends fc.Arbitrary<infer T> ? T : never;

function requestOf(h: RequestHeaders, ip = fuzzIp()): SentRequest {
  return {
    ip,
    userAgent: h.userAgent,
    country: h.country,
    contentType: h.contentType,
    origin: h.origin,
    headers: { ...h.spoof, ...h.odd },
  };
}

describe(`the edge worker under fuzzing (seed ${FUZZ_SEED})`, () => {
  it("answers mixed batches per index as the shared validator does, and forwards each valid event once, as sent", async () => {
    const keys: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.array(batchItem, { minLength: 1, maxLength: 12 }),
        requestHeaders,
        async (items, headers) => {
          const text = JSON.stringify({ events: items.map((i) => i.value) });
          const request = requestOf(headers);
          const sentAt = Date.now();
          const response = await post(text, request);
          await expectTrackAnswer(response, { text, bytes: bytesOf(text), items, request, sentAt, keys });
        },
      ),
      fuzzParameters(120),
    );
    expect(keys.length).toBeGreaterThan(100);
    await expectDelivered(keys);
  }, 120_000);

  it("answers any JSON value with a 202, or a 400 or 413 naming what is wrong", async () => {
    const keys: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc.record({ events: fc.jsonValue() }),
          fc.record({ events: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 110 }) }),
          nested(1, 200),
          nested(60, 70).map((events) => ({ events: [events] })),
          prototypeKeys,
          validEvent,
          validEvent.map((event) => ({ ...event, events: null })),
          // An own "__proto__" key beside `events`, as JSON.parse makes it.
          validEvent.map((event) => JSON.parse(`{"__proto__":[1],"events":[${JSON.stringify(event)}]}`)),
        ),
        async (value) => {
          const text = JSON.stringify(value) ?? "null";
          const request = { ip: fuzzIp(), contentType: "text/plain" };
          const sentAt = Date.now();
          const response = await post(text, request);
          await expectTrackAnswer(response, {
            text,
            bytes: bytesOf(text),
            request,
            sentAt,
            keys,
          });
        },
      ),
      fuzzParameters(120),
    );
    await expectDelivered(keys);
  }, 120_000);

  it("answers any text or bytes that are not JSON with a 400 naming the body", async () => {
    const keys: string[] = [];
    const encoder = new TextEncoder();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: "binary" }),
          fc.json().map((j) => `${j}}`),
          fc.json().map((j) => j.slice(0, -1)),
          fc.constantFrom("", " ", "\u0000", '{"events":[', "\ufeff{}", "{\ud800}", "NaN", "undefined"),
          validEvent.map((event) => `${JSON.stringify({ events: [event] }).slice(0, -1)},]}`),
          fc.uint8Array({ maxLength: 200 }),
          fc.constant(null).map(() => Uint8Array.from([0xef, 0xbb, 0xbf, ...encoder.encode("{}")])),
          fc.constant(null).map(() => Uint8Array.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])),
        ),
        textContentType,
        async (body, type) => {
          // What the worker reads: UTF-8 with invalid sequences (and lone surrogates) replaced.
          const bytes = typeof body === "string" ? encoder.encode(body) : body;
          const text = new TextDecoder().decode(bytes);
          const request = { ip: fuzzIp(), contentType: type };
          const sentAt = Date.now();
          const response = await post(body, request);
          await expectTrackAnswer(response, {
            text,
            bytes: bytes.byteLength,
            request,
            sentAt,
            keys,
          });
        },
      ),
      fuzzParameters(100),
    );
    await expectDelivered(keys);
  }, 120_000);

  it("reads the body as text whatever content type it declares", async () => {
    const keys: string[] = [];
    await fc.assert(
      fc.asyncProperty(otherContentType, validEvent, async (type, event) => {
        const items: Item[] = [{ value: event, valid: true }, { value: { event_type: "page_view" } }];
        const text = JSON.stringify({ events: items.map((i) => i.value) });
        const request = { ip: fuzzIp(), contentType: type };
        const sentAt = Date.now();
        const response = await post(text, request);
        expect(response.status).toBe(202);
        await expectTrackAnswer(response, {
          text,
          bytes: bytesOf(text),
          items,
          request,
          sentAt,
          keys,
        });
      }),
      fuzzParameters(10),
    );
    await expectDelivered(keys);
  });

  it("takes bodies up to 256 KiB whatever their encoding, and answers 413 past it, streamed or not", async () => {
    const keys: string[] = [];
    const limit = TRACK_BODY_LIMIT_BYTES;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.integer({ min: limit - 64, max: limit + 64 }),
          fc.integer({ min: limit + 1, max: 4 * limit }),
          fc.integer({ min: 1_000, max: limit }),
        ),
        fc.constantFrom("spaces", "multibyte"),
        fc.boolean(),
        async (size, padding, streamed) => {
          const event = pageView({ funnel_id: FUZZ_FUNNEL, session_id: `fz-${crypto.randomUUID()}` });
          const head = JSON.stringify({ events: [event] });
          let text = head;
          if (padding === "spaces") text = head + " ".repeat(Math.max(0, size - bytesOf(head)));
          else {
            // Two-byte characters in a key the envelope ignores, then spaces up to the exact size.
            const open = `${head.slice(0, -1)},"pad":"`;
            const pairs = Math.max(0, Math.floor((size - bytesOf(open) - 2) / 2));
            text = `${open}${"é".repeat(pairs)}"}`;
            text += " ".repeat(Math.max(0, size - bytesOf(text)));
          }
          const bytes = new TextEncoder().encode(text);
          const body = streamed
            ? new ReadableStream<Uint8Array>({
                start(controller) {
                  for (let at = 0; at < bytes.byteLength; at += 16_384)
                    controller.enqueue(bytes.slice(at, at + 16_384));
                  controller.close();
                },
              })
            : text;
          const request = { ip: fuzzIp(), contentType: "text/plain" };
          const sentAt = Date.now();
          const response = await post(body, request);
          await expectTrackAnswer(response, {
            text,
            bytes: bytes.byteLength,
            items: [{ value: event, valid: true }],
            request,
            sentAt,
            keys,
          });
        },
      ),
      fuzzParameters(40),
    );
    await expectDelivered(keys);
  }, 120_000);

  it("answers 1 to 100 events with 202, and none or more than 100 with a 400 naming `events`", async () => {
    const keys: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 110 }), async (n) => {
        const events = Array.from({ length: n }, () =>
          pageView({ funnel_id: FUZZ_FUNNEL, session_id: `fz-${crypto.randomUUID()}` }),
        );
        const text = JSON.stringify({ events });
        const request = { ip: fuzzIp() };
        const sentAt = Date.now();
        const response = await post(text, request);
        if (n === 0 || n > LIMITS.eventsPerTrackRequest)
          expect((await errorJson(response.clone(), 400)).error.details).toEqual([
            { field: "events", message: expect.any(String) },
          ]);
        const items = events.map((value) => ({ value, valid: true }));
        await expectTrackAnswer(response, {
          text,
          bytes: bytesOf(text),
          items,
          request,
          sentAt,
          keys,
        });
      }),
      fuzzParameters(20),
    );
    await expectDelivered(keys);
  }, 120_000);

  it("counts and stores every event under the connecting address, whatever address headers the client sends", async () => {
    const keys: string[] = [];
    let subnets = 0;
    await fc.assert(
      fc.asyncProperty(spoofHeaders, spoofHeaders, fc.boolean(), async (first, second, v6) => {
        subnets += 1;
        // IPv4: one address; IPv6: two hosts of one /64, which the limit counts as one client.
        const prefix = `2001:db8:${(0xf000 + subnets).toString(16)}`;
        const ip = v6 ? `${prefix}:${subnets.toString(16)}::1` : fuzzIp();
        const sameClient = v6 ? `${prefix}:${subnets.toString(16)}:ffff::9` : ip;
        const forwardedIp = v6 ? `${prefix}::` : slash24(ip);
        const events = (n: number) =>
          Array.from({ length: n }, () =>
            pageView({
              funnel_id: FUZZ_FUNNEL,
              session_id: `fz-${crypto.randomUUID()}`,
              ip_address: "9.9.9.9",
            }),
          );

        const sentAt = Date.now();
        const full = events(LIMITS.eventsPerTrackRequest);
        const ok = await post(JSON.stringify({ events: full }), { ip, headers: first });
        expect(ok.status).toBe(202);
        for (const sent of full) {
          accepted.set(keyOf(sent), { sent, forwardedIp, userAgent: undefined, country: undefined, sentAt });
          keys.push(keyOf(sent));
        }

        // The budget of 100 events per second is spent: other headers do not make another client.
        const more = events(90);
        const over = await post(JSON.stringify({ events: more }), { ip: sameClient, headers: second });
        const json = await errorJson(over, 429);
        expect(json.error.code).toBe("RATE_LIMITED");
        expect(Number(over.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        refuse(more);

        // ...and the same headers from another address are another client, with a budget of its own.
        const other: Record<string, unknown> = pageView({
          funnel_id: FUZZ_FUNNEL,
          session_id: `fz-${crypto.randomUUID()}`,
        });
        const elsewhereIp = fuzzIp();
        const elsewhere = await post(JSON.stringify({ events: [other] }), {
          ip: elsewhereIp,
          headers: first,
        });
        expect(elsewhere.status).toBe(202);
        accepted.set(keyOf(other), {
          sent: other,
          forwardedIp: slash24(elsewhereIp),
          userAgent: undefined,
          country: undefined,
          sentAt,
        });
        keys.push(keyOf(other));
      }),
      fuzzParameters(15),
    );
    await expectDelivered(keys);
  }, 120_000);

  it("answers any method and path with the script, a preflight, or the JSON error body, never a 5xx", async () => {
    const etag = `"${version}"`;
    const segment = hostileString.map((s) => {
      try {
        return encodeURIComponent(s.slice(0, 50));
      } catch {
        return "%ED%A0%80";
      }
    });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"),
        fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom("/t.js", "/api/v1/analytics/track") },
          fc.constantFrom(
            "/",
            "/t.js/",
            "/T.JS",
            "/t%2Ejs",
            "/api/v1/analytics/track/",
            "/api/v1/analytics/TRACK",
            "//t.js",
            "/api/v1/analytics/import",
            "/internal/ingest",
            "/api/v1/analytics/x/../track",
            "/%2e%2e/t.js",
            "/t.js%00",
            "/%",
            "/%E0%A4%A",
            "/%ff",
          ),
          fc.webPath(),
          fc.array(segment, { maxLength: 4 }).map((s) => `/${s.join("/")}`),
          fc.nat({ max: 8_000 }).map((n) => `/${"a".repeat(n)}`),
        ),
        fc.option(
          fc.oneof(
            fc.webQueryParameters(),
            fc.constant(`v=${version}`),
            segment.map((s) => `v=${s}`),
            fc.constantFrom("v=%", "v=%zz", "v&v=1&v=", "%00=%00"),
          ),
          { nil: undefined },
        ),
        fc.record(
          {
            "if-none-match": fc.oneof(fc.constant(etag), fc.constant("*"), fc.string({ maxLength: 40 })),
            origin: fc.constantFrom("https://shop.example.com", "null"),
            "access-control-request-method": fc.constantFrom("POST", "GET", "DELETE", "X"),
            "access-control-request-headers": fc.constantFrom("content-type", "x-evil", "*"),
            "content-type": textContentType.map((t) => t ?? "application/json"),
          },
          { requiredKeys: [] },
        ),
        fc.option(
          hostileString.map((s) => s.slice(0, 2_000)),
          { nil: undefined },
        ),
        async (method, path, query, headers, body) => {
          const url = `http://edge.test${path}${query === undefined ? "" : `?${query}`}`;
          const withBody = method !== "GET" && method !== "HEAD" && body !== undefined;
          const response = await dispatch(url, {
            method,
            headers: { "cf-connecting-ip": fuzzIp(), ...headers },
            ...(withBody ? { body } : {}),
          });
          expect(response.status, `${method} ${path}`).toBeLessThan(500);
          const pathname = new URL(url).pathname;
          if (response.status === 200) {
            expect(["GET", "HEAD"]).toContain(method);
            expect(response.headers.get("etag")).toBe(etag);
            expect(response.headers.get("content-type")).toContain("javascript");
            const pinned = new URL(url).searchParams.get("v") === version;
            expect(response.headers.get("cache-control")).toContain(pinned ? "immutable" : "max-age=86400");
            if (method === "GET") expect(await response.text()).toBe(script);
          } else if (response.status === 304) {
            expect(headers["if-none-match"]).toBe(etag);
          } else if (response.status === 204) {
            expect(method).toBe("OPTIONS");
            expect(response.headers.get("access-control-allow-origin")).toBe("*");
          } else if (method !== "HEAD") {
            const json = await errorJson(response);
            if (json.error.code === "NOT_FOUND") expect(response.status).toBe(404);
            else {
              // Only the track route answers anything but 404, and it refuses every body here.
              expect(method).toBe("POST");
              expect([400, 413]).toContain(response.status);
              expectFieldsNamed(json.error.details);
            }
          } else expect(response.status).toBe(404);
          if (pathname === "/t.js" && (method === "GET" || method === "HEAD"))
            expect([200, 304]).toContain(response.status);
          if (pathname === "/nope" || pathname.startsWith("/internal")) expect(response.status).toBe(404);
        },
      ),
      fuzzParameters(300),
    );
    expectNothingUnexpected();
  }, 120_000);

  it("forwarded only events the API's /internal/ingest takes, and nothing polluted a prototype", async () => {
    const events = api.events;
    expect(events.length).toBeGreaterThan(1_000);
    const unfit = events
      .map((event) => ({ event, result: forwardable.safeParse(event) }))
      .filter(({ result }) => !result.success)
      .map(({ event, result }) => ({
        event_id: event.event_id,
        issues: result.error?.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`),
      }));
    expect(unfit).toEqual([]);
    // Checked apart from the shared validator too: no NUL or unpaired surrogate in any forwarded text.
    expect(events.filter((event) => !textsOf(event).every(isPostgresText)).map((e) => e.event_id)).toEqual(
      [],
    );
    expect(api.signatures.every((ok) => ok)).toBe(true);
    expect(api.refusals.length).toBeGreaterThan(100);
    expectFieldsNamed(api.refusals);
    // Every event accepted in this file, checked again now that all batches are in: still exactly once.
    await expectDelivered([...accepted.keys()]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("regressions the fuzzing found", () => {
  it("keeps the first 512 characters of a longer User-Agent header, as the API does, instead of forwarding it whole", async () => {
    // In-app browsers append long tokens; the API's /internal/ingest refuses a user_agent over 512
    // characters, so the whole header used to turn a 202 at the edge into an event the API refused.
    const userAgent = `Mozilla/5.0 (Linux; Android 14; Pixel 8) ${"[FBAN/FB4A;FBAV/450.0.0.1;]".repeat(25)}`;
    expect(userAgent.length).toBeGreaterThan(LIMITS.userAgentLength);
    const event = pageView();
    const response = await track(event, { ip: fuzzIp(), userAgent });
    expect(response.status).toBe(202);
    const [forwarded] = await waitFor(
      () => api.events.filter((e) => e.event_id === event.event_id),
      (e) => e.length > 0,
    );
    expect(forwarded?.user_agent).toBe(userAgent.slice(0, LIMITS.userAgentLength));
    expect(forwarded?.enrichment).toMatchObject({ device_type: "mobile", os: "Android" });
    expect(forwardable.safeParse(forwarded).success).toBe(true);
  });
});
