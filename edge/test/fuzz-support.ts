import { createExecutionContext, env } from "cloudflare:test";
import {
  type AcceptedEvent,
  acceptedEvent,
  EVENT_FIELDS,
  isStorableText,
  LIMITS,
  UNSTORABLE_TEXT_MESSAGE,
  validateEvents,
} from "@funnel/events";
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyBatchSignature } from "@funnel/events/signing";
import fc from "fast-check";
import { expect } from "vitest";
import { z } from "zod";
import worker from "../src/index";
import { TRACK } from "./support";

/**
 * Generators and oracles of the edge fuzzing (fuzz.test.ts), in the style of the API's
 * (api/src/reliability/ingest-fuzz.test.ts): hostile values, valid events, events with one field
 * made hostile, and what the shared validator (packages/events) says of each.
 */

/**
 * The API's /internal/ingest for the fuzzing: test/api-stub.ts's signature check, but keeping only
 * what the properties read (the forwarded events, the refusals' indices and errors, whether each
 * signature held) rather than every call and batch, raw refused bodies of up to 48 KB included.
 */
export function leanApiStub() {
  const events: AcceptedEvent[] = [];
  const refusals: { index: number; errors: { field: string; message: string }[] }[] = [];
  const signatures: boolean[] = [];
  const original = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).origin !== new URL(env.API_URL).origin) return original(input, init);
    const rawBody = await request.text();
    const signature = await verifyBatchSignature({
      secret: env.EDGE_SIGNING_SECRET,
      timestamp: request.headers.get(TIMESTAMP_HEADER),
      signature: request.headers.get(SIGNATURE_HEADER),
      rawBody,
    });
    signatures.push(signature.ok);
    const body = JSON.parse(rawBody) as { events: AcceptedEvent[]; rejected?: typeof refusals };
    events.push(...body.events);
    for (const { index, errors } of body.rejected ?? []) refusals.push({ index, errors });
    return Response.json({ accepted: body.events.length, rejected: [] }, { status: 202 });
  };
  const restore = () => {
    globalThis.fetch = original;
  };
  return { events, refusals, signatures, restore };
}

/**
 * One seed for every property, so a run is reproducible: a failure prints `seed` and `path`
 * (fast-check's counterexample report); put them in `fuzzParameters` to replay it. The worker's
 * tests run inside workerd, which sees no environment variable of the shell: change the seed here
 * to explore further.
 */
export const FUZZ_SEED = 20_261_130;

export function fuzzParameters<T>(numRuns: number): fc.Parameters<T> {
  return { seed: FUZZ_SEED, numRuns, endOnFailure: true };
}

/** The funnel of every generated event, so forwards of other test files are told apart. */
export const FUZZ_FUNNEL = "f0220000-0000-4000-8000-00000000f022";

let addresses = 0;
/** A fresh client address per request (its own rate-limit budget), apart from support.ts's range. */
export function fuzzIp(): string {
  addresses += 1;
  return `100.64.${Math.floor(addresses / 250) % 250}.${(addresses % 250) + 1}`;
}

/** IPv4 to its /24, computed here rather than with the worker's own code. */
export const slash24 = (ip: string) => ip.replace(/\.\d+$/, ".0");

/** NUL and unpaired surrogates, which PostgreSQL cannot store, and a pair that it can. */
const unstorable = fc.constantFrom("\u0000", "\ud800", "\udbff", "\udc00", "\udfff", "\udbff\udfff");

/** Strings a client might send: any unicode, NUL and lone surrogates included, sometimes huge. */
export const hostileString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  // Plain text with a NUL or a lone surrogate somewhere in it.
  fc
    .tuple(fc.string({ maxLength: 20 }), unstorable, fc.string({ maxLength: 20 }))
    .map(([before, bad, after]) => before + bad + after),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\ud800",
    "x\udc00y",
    "\udbff\udfff",
    "😀",
    "\u202e",
    "\ufeff",
    "' or 1=1 --",
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
    "page_view",
    "NaN",
    "-1",
  ),
  fc.nat({ max: 70_000 }).map((n) => "x".repeat(n)),
);

/** Nested arrays and objects `depth` levels deep (64 allowed in a body, 32 in metadata). */
export const nested = (min: number, max: number) =>
  fc.integer({ min, max }).map((depth) => {
    let value: unknown = "leaf";
    for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { k: value };
    return value;
  });

export const prototypeKeys = fc.constantFrom(
  JSON.parse('{"__proto__":{"polluted":true}}'),
  JSON.parse('{"constructor":{"prototype":{"polluted":true}}}'),
  JSON.parse('{"__proto__":[],"toString":1,"hasOwnProperty":"x"}'),
);

/** Metadata around its limits: 8 KiB of JSON, 32 levels, hostile keys and values. */
export const hostileMetadata = fc.oneof(
  fc.integer({ min: LIMITS.metadataBytes - 16, max: LIMITS.metadataBytes + 16 }).map((bytes) => ({
    p: "x".repeat(bytes - '{"p":""}'.length),
  })),
  fc.integer({ min: 28, max: 36 }).map((depth) => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = { k: value };
    return value;
  }),
  fc.dictionary(hostileString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), hostileString, { maxKeys: 3 }),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc
    .integer({ min: 1, max: 2_000 })
    .map((keys) => Object.fromEntries(Array.from({ length: keys }, (_, i) => [`k${i}`, i]))),
  prototypeKeys,
);

/** Whether `text` holds no NUL and no unpaired surrogate (checked here, not with the validator's code). */
export function isPostgresText(text: string): boolean {
  return !text.includes("\u0000") && new TextDecoder().decode(new TextEncoder().encode(text)) === text;
}

/** Every string and key inside a value, for `isPostgresText`. */
export function textsOf(value: unknown, into: string[] = []): string[] {
  if (typeof value === "string") into.push(value);
  else if (value !== null && typeof value === "object")
    for (const [key, child] of Object.entries(value)) {
      into.push(key);
      textsOf(child, into);
    }
  return into;
}

export const hostileValue = fc.oneof(
  hostileString,
  fc.jsonValue({ maxDepth: 3 }),
  nested(1, 200),
  prototypeKeys,
  hostileMetadata,
  fc.constantFrom(-1, 0, 1.5, 2 ** 31, -(2 ** 53), 1e308, true, false, null, [], {}),
);

/** Plausible but maybe wrong: another event type, a fresh UUID, a date, an IP, text at a length limit. */
const plausibleValue = fc.oneof(
  fc.constantFrom("page_view", "conversion", "step_entry", "step_exit", "refund", "purchase", "forward"),
  fc.constant(null).map(() => crypto.randomUUID()),
  fc.constantFrom("2026-01-01T00:00:00Z", "2026-01-01", "1.2.3.4", "::1", "https://x.test/", 0, 1),
  // Each text limit (session and order ids 100, UTM 255, user agent 512, URLs 2,048) and one past it.
  fc.constantFrom(99, 100, 101, 255, 256, 512, 513, 2_048, 2_049).map((n) => "é".repeat(n)),
);

/** Every field of the event schema, plus keys an attacker tries. */
export const FIELDS = [...EVENT_FIELDS, "__proto__", "constructor"];

/** One item of a generated batch, and which field was made hostile (if one was). */
export interface Item {
  value: unknown;
  /** Made by `validEvent` and left alone: valid by construction, so it must be accepted. */
  valid?: boolean;
  mutated?: string;
  /** The valid event it was made from. */
  base?: unknown;
}

/** Offsets of the client's timestamp from now: mostly past, sometimes ahead by less or more than 5 min. */
const secondsAgo = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 30 * 86_400 }) },
  fc.integer({ min: -240, max: -1 }),
  fc.integer({ min: -86_400, max: -360 }),
);

/**
 * A valid event of any type, with optional fields sometimes set (some of them at their limits),
 * valid by construction: the worker must accept it whatever else its batch holds.
 */
export const validEvent = fc
  .record({
    // Not refunds: only the API's keyed /import takes them (a refund at /track is refused).
    type: fc.constantFrom("page_view", "conversion", "step_entry", "step_exit"),
    secondsAgo: fc.option(secondsAgo, { nil: undefined }),
    offset: fc.boolean(),
    withId: fc.boolean(),
    url: fc.option(fc.oneof(fc.webUrl(), fc.constant(`https://x.test/${"a".repeat(2_032)}`)), {
      nil: undefined,
    }),
    utm: fc.option(
      fc
        .string({ unit: "grapheme", maxLength: 60 })
        .filter((s) => s.length <= LIMITS.utmLength && isStorableText(s)),
      { nil: undefined },
    ),
    userAgent: fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
    metadata: fc.option(
      fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      { nil: undefined },
    ),
    value: fc.integer({ min: 1, max: 2_147_483_647 }),
    exit: fc.constantFrom("forward", "backward", "bounce", "close"),
    conversion: fc.constantFrom("form_submit", "purchase", "signup", "custom"),
  })
  .map((g) => {
    const base: Record<string, unknown> = {
      event_type: g.type,
      event_id: g.withId ? crypto.randomUUID() : undefined,
      funnel_id: FUZZ_FUNNEL,
      // Unique, so that an event sent without an id is still recognised once forwarded.
      session_id: `fz-${crypto.randomUUID()}`,
      visitor_id: crypto.randomUUID(),
      timestamp:
        g.secondsAgo === undefined
          ? undefined
          : new Date(Date.now() - g.secondsAgo * 1000).toISOString().replace("Z", g.offset ? "+00:00" : "Z"),
      url: g.url,
      utm_source: g.utm,
      user_agent: g.userAgent,
      metadata: g.metadata,
    };
    if (g.type === "page_view") return { ...base, page_id: crypto.randomUUID() };
    if (g.type === "conversion") return { ...base, conversion_type: g.conversion, value_cents: g.value };
    if (g.type === "step_entry")
      return { ...base, funnel_step_id: crypto.randomUUID(), previous_step_id: crypto.randomUUID() };
    if (g.type === "step_exit")
      return {
        ...base,
        funnel_step_id: crypto.randomUUID(),
        exit_outcome: g.exit,
        next_step_id: g.withId ? crypto.randomUUID() : undefined,
      };
    return { ...base, order_id: `o-${crypto.randomUUID()}`, value_cents: g.value };
  });

/** A valid event with one field set to a hostile or plausible-but-wrong value, removed, or left alone. */
export const mutatedEvent: fc.Arbitrary<Item> = fc
  .tuple(
    validEvent,
    // Metadata (nesting, size, keys) more often than the other fields.
    fc
      .oneof(
        { weight: 1, arbitrary: fc.constant("metadata") },
        { weight: 3, arbitrary: fc.constantFrom(...FIELDS) },
      )
      .chain((field) =>
        fc.tuple(
          fc.constant(field),
          field === "metadata"
            ? fc.oneof(hostileMetadata, hostileValue)
            : fc.oneof(hostileValue, plausibleValue),
        ),
      ),
    fc.constantFrom("set", "delete", "keep"),
  )
  .map(([event, [field, value], how]) => {
    const copy: Record<string, unknown> = { ...event };
    if (how === "keep") return { value: copy };
    if (how === "delete") delete copy[field];
    // defineProperty, so that "__proto__" becomes an own key that JSON.stringify sends.
    else Object.defineProperty(copy, field, { value, enumerable: true, writable: true, configurable: true });
    return { value: copy, mutated: field, base: event };
  });

/** Every field hostile at once, or any JSON at all where an event should be. */
export const garbageItem: fc.Arbitrary<Item> = fc
  .oneof(
    fc.dictionary(fc.constantFrom(...FIELDS), hostileValue, { maxKeys: FIELDS.length }),
    fc.jsonValue({ maxDepth: 3 }),
    nested(1, 80),
  )
  .map((value) => ({ value }));

export const batchItem: fc.Arbitrary<Item> = fc.oneof(
  { weight: 3, arbitrary: validEvent.map((value) => ({ value, valid: true })) },
  { weight: 4, arbitrary: mutatedEvent },
  { weight: 1, arbitrary: garbageItem },
);

/** Content types workerd reads as text: what sendBeacon, fetch and scripts send. */
export const textContentType = fc.constantFrom(
  undefined,
  "text/plain",
  "text/plain;charset=UTF-8",
  "application/json",
  "application/json; charset=utf-16",
);

/**
 * Content types that declare something else. The worker reads every body as text all the same;
 * workerd logs a warning for each such body read (so few runs use them, to keep the output short).
 */
export const otherContentType = fc.constantFrom(
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=----x",
  "application/octet-stream",
  "image/png",
  "application/json, text/plain",
  ";;;",
  "x".repeat(300),
);

/** Client-sent headers claiming another address or country: none may count. */
export const spoofHeaders = fc.record(
  {
    "x-forwarded-for": fc.oneof(
      fc.ipV4(),
      fc.constant("1.1.1.1, 2.2.2.2"),
      fc.constant("127.0.0.1"),
      fc.constant("not an ip"),
    ),
    "x-real-ip": fc.ipV4(),
    "true-client-ip": fc.ipV4(),
    forwarded: fc.ipV4().map((ip) => `for=${ip};proto=https`),
    "cf-pseudo-ipv4": fc.ipV4(),
    "cf-connecting-ipv6": fc.constant("2001:db8::1"),
    "cf-ipcountry": fc.constantFrom("US", "XX", "T1"),
  },
  { requiredKeys: [] },
);

/**
 * A User-Agent header: none, a real one, or any printable Latin-1 text up to 3,000 characters
 * (headers carry bytes; a browser sends what it likes, the contract keeps 512 characters of it).
 */
export const userAgentHeader = fc.oneof(
  fc.constant(undefined),
  fc.constant(
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  ),
  // Printable ASCII and Latin-1, without the leading or trailing spaces HTTP strips.
  fc
    .string({
      unit: fc
        .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }))
        .map((c) => String.fromCharCode(c)),
      maxLength: 3_000,
    })
    .map((s) => s.replace(/^ +| +$/g, "")),
  fc.integer({ min: 500, max: 4_000 }).map((n) => `Mozilla/5.0 ${"(ext) ".repeat(n / 6)}`.trim()),
);

/** How a generated body is sent: the connecting address and the headers around it. */
export interface SentRequest {
  ip: string;
  userAgent?: string | undefined;
  country?: string | undefined;
  contentType?: string | undefined;
  headers?: Record<string, string>;
  origin?: string | undefined;
}

/**
 * One request to the worker's fetch handler, with the bindings of wrangler.jsonc (the same local
 * Durable Object and Queue as SELF). Not through `SELF.fetch`: in @cloudflare/vitest-pool-workers
 * 0.23 its round trip grows slower with every request made (from about 1 ms to hundreds after a few
 * hundred requests), so the few thousand requests of the fuzzing would take minutes.
 */
export function dispatch(url: string, init: RequestInit & { cf?: { country: string } }): Promise<Response> {
  const request = new Request(url, init) as Request<unknown, IncomingRequestCfProperties>;
  return Promise.resolve(
    worker.fetch?.(request, env, createExecutionContext()) as Response | Promise<Response>,
  );
}

export function post(body: string | Uint8Array | ReadableStream, r: SentRequest) {
  const headers: Record<string, string> = { "cf-connecting-ip": r.ip, ...r.headers };
  if (r.contentType !== undefined) headers["content-type"] = r.contentType;
  if (r.userAgent !== undefined) headers["user-agent"] = r.userAgent;
  if (r.origin !== undefined) headers.origin = r.origin;
  // A browser declares the length of a body it has whole; a streamed one is sent chunked.
  if (!(body instanceof ReadableStream))
    headers["content-length"] = String(
      typeof body === "string" ? new TextEncoder().encode(body).byteLength : body.byteLength,
    );
  return dispatch(TRACK, {
    method: "POST",
    headers,
    body,
    ...(r.country ? { cf: { country: r.country } } : {}),
  });
}

/** What the shared validator says of each item: the indices it accepts and refuses. */
export function oracle(items: unknown[]): { valid: number[]; invalid: number[] } {
  const batch = validateEvents(JSON.parse(JSON.stringify(items)) as unknown[], {
    context: { receivedAt: new Date() },
    fromBrowser: true,
    newId: () => "",
  });
  const invalid = batch.rejected.map((r) => r.index);
  return { valid: items.map((_, i) => i).filter((i) => !invalid.includes(i)), invalid };
}

export interface ErrorJson {
  error: {
    code: string;
    message: string;
    request_id: string;
    details?: { index?: number; field?: string; errors?: { field: string; message: string }[] }[];
  };
}

/** A 4xx the shared error contract describes: JSON, a code, a message and the request id. */
export async function errorJson(response: Response, status?: number): Promise<ErrorJson> {
  if (status !== undefined) expect(response.status).toBe(status);
  expect(response.status).toBeGreaterThanOrEqual(400);
  expect(response.status).toBeLessThan(500);
  expect(response.headers.get("content-type")).toContain("application/json");
  const json = (await response.json()) as ErrorJson;
  expect(json.error.code).toMatch(/^[A-Z_]+$/);
  expect(typeof json.error.message).toBe("string");
  expect(json.error.request_id).toBe(response.headers.get("x-request-id"));
  return json;
}

/** Every entry names at least one field; a 400 (`atLeastOne`) lists at least one entry. */
export function expectFieldsNamed(details: ErrorJson["error"]["details"], atLeastOne = true): void {
  expect(Array.isArray(details) && (!atLeastOne || details.length > 0), "a 400 lists what is wrong").toBe(
    true,
  );
  for (const d of details ?? []) {
    const fields = d.errors ? d.errors.map((e) => e.field) : [d.field];
    expect(fields.length).toBeGreaterThan(0);
    for (const field of fields) expect(typeof field === "string" && field.length > 0).toBe(true);
  }
}

const bounded = (max: number) =>
  z
    .string()
    .max(max, { message: `must be at most ${max} characters` })
    .refine(isStorableText, { message: UNSTORABLE_TEXT_MESSAGE });

/**
 * What the API's /internal/ingest takes from the edge: its `storedEvent`
 * (api/src/ingest/batch-schema.ts), i.e. the wire shape plus the column limits. An event the edge
 * answered 202 for but that fails this is refused by the API: lost after the browser was told yes.
 */
export const forwardable = acceptedEvent.extend({
  ip_address: z.union([z.ipv4(), z.ipv6()]).nullable(),
  value_cents: z.number().int().min(0).max(2_147_483_647).nullable(),
  order_id: bounded(LIMITS.orderIdLength).nullable(),
  url: bounded(LIMITS.urlLength).nullable(),
  referrer: bounded(LIMITS.urlLength).nullable(),
  utm_source: bounded(LIMITS.utmLength).nullable(),
  utm_medium: bounded(LIMITS.utmLength).nullable(),
  utm_campaign: bounded(LIMITS.utmLength).nullable(),
  user_agent: bounded(LIMITS.userAgentLength).nullable(),
});

const COMMON = [
  "event_type",
  "funnel_id",
  "session_id",
  "visitor_id",
  "page_id",
  "variant_id",
  "url",
  "referrer",
  "utm_source",
  "utm_medium",
  "utm_campaign",
] as const;
const BY_TYPE: Record<string, readonly string[]> = {
  page_view: [],
  conversion: ["conversion_type", "value_cents", "conversion_goal_id", "order_id"],
  step_entry: ["funnel_step_id", "previous_step_id"],
  step_exit: ["funnel_step_id", "exit_outcome", "next_step_id"],
  refund: ["order_id", "value_cents"],
};
const TYPED = [...new Set(Object.values(BY_TYPE).flat())];

/** An accepted event as sent, and the request it came in. */
export interface Expected {
  sent: Record<string, unknown>;
  /** The truncated connecting address the API must get (IPv4 /24, IPv6 /48). */
  forwardedIp: string;
  /** The User-Agent header as the worker received it. */
  userAgent: string | undefined;
  country: string | undefined;
  sentAt: number;
}

/**
 * The forwarded event carries what was sent, unchanged: the body's fields (those of its type; the
 * others are dropped), its id and time, the /24 of the connecting address (never the body's or a
 * header's), the body's user agent or else the header's first 512 characters, the platform's country.
 */
export function expectForwardedAsSent(forwarded: AcceptedEvent, e: Expected): void {
  const sent = JSON.parse(JSON.stringify(e.sent)) as Record<string, unknown>;
  const type = String(sent.event_type);
  const declared = new Set<string>([...COMMON, ...(BY_TYPE[type] ?? [])]);
  const expected: Record<string, unknown> = {};
  for (const field of [...COMMON, ...TYPED])
    expected[field] = declared.has(field) ? (sent[field] ?? null) : null;
  const actual: Record<string, unknown> = {};
  for (const field of Object.keys(expected)) actual[field] = forwarded[field as keyof AcceptedEvent];
  expect(actual).toEqual(expected);

  // zod drops an own "__proto__" key of a record (so that it cannot set the prototype); the API alike.
  const metadata = (sent.metadata ?? {}) as Record<string, unknown>;
  Reflect.deleteProperty(metadata, "__proto__");
  expect(forwarded.metadata).toEqual(metadata);

  if (typeof sent.event_id === "string") expect(forwarded.event_id).toBe(sent.event_id);
  expect(forwarded.ip_address).toBe(e.forwardedIp);
  expect(forwarded.user_agent).toBe(
    (sent.user_agent as string | undefined) ?? e.userAgent?.slice(0, LIMITS.userAgentLength) ?? null,
  );
  expect(forwarded.enrichment?.country ?? null).toBe(e.country ?? null);

  const received = Date.parse(forwarded.received_at);
  expect(received).toBeGreaterThanOrEqual(e.sentAt - 1_000);
  expect(received).toBeLessThanOrEqual(Date.now());
  const timestamp = sent.timestamp as string | undefined;
  const clamped = timestamp === undefined || Date.parse(timestamp) > received + LIMITS.futureSkewMs;
  expect(forwarded.occurred_at).toBe(clamped ? forwarded.received_at : new Date(timestamp).toISOString());
}
