import { randomUUID } from "node:crypto";
import { EVENT_FIELDS, LIMITS, nestsDeeperThan, validateEvents } from "@funnel/events";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storedEvent } from "../ingest/batch-schema";
import { FUZZ_SEED, fuzzParameters } from "./fuzz";
import { createIngestHarness, type IngestHarness, storedEventsAsAccepted } from "./harness";

/**
 * Hostile bodies for the two public ingest routes. Whatever arrives: never a 5xx; a body with no
 * valid event is a 400 naming each index and field; a mixed batch is a 202 whose accepted count and
 * per-index rejections agree with the shared validator (packages/events); and afterwards every
 * event the API accepted is stored, no job failed, and every stored row passes the schema the
 * worker checks (`storedEvent`), so nothing unfit reached the database.
 */

const ROUTES = ["/api/v1/analytics/track", "/api/v1/analytics/import"] as const;

let h: IngestHarness;
/** Ids of events the API answered as accepted: each must be stored once the queue is drained. */
const acceptedIds = new Set<string>();

beforeAll(async () => {
  // The per-IP limit has its own test (limits.test.ts); here it would only slow the fuzzing down.
  h = await createIngestHarness({ config: { RATE_LIMIT_EVENTS_PER_SECOND: 1_000_000 } });
});
afterAll(() => h?.close());

const ids = () => ({
  page: h.funnel.pages?.[0]?.id ?? "",
  step: h.funnel.steps[0]?.id ?? "",
  next: h.funnel.steps[1]?.id ?? "",
});

/** Strings a client might send: any unicode, NUL and lone surrogates included, sometimes huge. */
const hostileString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.constantFrom(
    "\u0000",
    "a\u0000b",
    "\ud800",
    "x\udc00y",
    "😀",
    "\u202e",
    "' or 1=1 --",
    "=cmd|' /C calc'!A0",
  ),
  fc.nat({ max: 70_000 }).map((n) => "x".repeat(n)),
);

/** Nested arrays and objects `depth` levels deep (the API allows 64 in a body, 32 in metadata). */
const nested = fc.integer({ min: 1, max: 200 }).map((depth) => {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { k: value };
  return value;
});

const prototypeKeys = fc.constantFrom(
  JSON.parse('{"__proto__":{"polluted":true}}'),
  JSON.parse('{"constructor":{"prototype":{"polluted":true}}}'),
  JSON.parse('{"__proto__":[],"toString":1,"hasOwnProperty":"x"}'),
);

const hostileValue = fc.oneof(
  hostileString,
  fc.jsonValue({ maxDepth: 3 }),
  nested,
  prototypeKeys,
  fc.constantFrom(-1, 0, 1.5, 2 ** 31, -(2 ** 53), 1e308, true, null, [], {}),
);

const FIELDS = [...EVENT_FIELDS, "__proto__", "constructor"];

/** A valid event of any type, with optional fields sometimes set (some of them at their limits). */
const validEvent = fc
  .record({
    type: fc.constantFrom("page_view", "conversion", "step_entry", "step_exit", "refund"),
    secondsAgo: fc.integer({ min: 0, max: 30 * 86_400 }),
    url: fc.option(fc.webUrl(), { nil: undefined }),
    utm: fc.option(fc.string({ unit: "grapheme", maxLength: 60 }), { nil: undefined }),
    metadata: fc.option(
      fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      {
        nil: undefined,
      },
    ),
    value: fc.integer({ min: 1, max: 2_147_483_647 }),
  })
  .map(({ type, secondsAgo, url, utm, metadata, value }) => {
    const { page, step, next } = ids();
    const base: Record<string, unknown> = {
      event_type: type,
      event_id: randomUUID(),
      funnel_id: h.funnelId,
      session_id: `s-${randomUUID()}`,
      visitor_id: randomUUID(),
      timestamp: new Date(Date.now() - secondsAgo * 1000).toISOString(),
      url,
      utm_source: utm,
      metadata,
    };
    if (type === "page_view") return { ...base, page_id: page };
    if (type === "conversion") return { ...base, conversion_type: "purchase", value_cents: value };
    if (type === "step_entry") return { ...base, funnel_step_id: step };
    if (type === "step_exit")
      return { ...base, funnel_step_id: step, exit_outcome: "forward", next_step_id: next };
    return { ...base, order_id: `o-${randomUUID()}`, value_cents: value };
  });

/** A valid event with one field set to a hostile value, removed, or left alone. */
const mutatedEvent = fc
  .tuple(validEvent, fc.constantFrom(...FIELDS), hostileValue, fc.constantFrom("set", "delete", "keep"))
  .map(([event, field, value, how]) => {
    const copy: Record<string, unknown> = { ...event };
    if (how === "delete") delete copy[field];
    // defineProperty, so that "__proto__" becomes an own key that JSON.stringify sends.
    else if (how === "set") Object.defineProperty(copy, field, { value, enumerable: true, writable: true });
    return copy;
  });

/** What the shared validator says of each item, as the API must answer it. */
function oracle(items: unknown[], route: (typeof ROUTES)[number]): { validIds: string[]; invalid: number[] } {
  // /track refuses what only the merchant's server may send (refunds).
  const batch = validateEvents(JSON.parse(JSON.stringify(items)) as unknown[], {
    context: { receivedAt: new Date() },
    fromBrowser: route.endsWith("track"),
    newId: () => "",
  });
  return { validIds: batch.accepted.map((e) => e.event_id), invalid: batch.rejected.map((r) => r.index) };
}

interface ErrorJson {
  error: { code: string; details?: { index?: number; field?: string; errors?: { field: string }[] }[] };
}

/** Every entry names at least one field; a 400 (`atLeastOne`) lists at least one entry. */
function expectFieldsNamed(details: ErrorJson["error"]["details"], atLeastOne = true): void {
  expect(Array.isArray(details) && (!atLeastOne || details.length > 0), "a 400 lists what is wrong").toBe(
    true,
  );
  for (const d of details ?? []) {
    const fields = d.errors ? d.errors.map((e) => e.field) : [d.field];
    expect(fields.length).toBeGreaterThan(0);
    for (const field of fields) expect(typeof field === "string" && field.length > 0).toBe(true);
  }
}

describe("ingest bodies under fuzzing", () => {
  it(`answers mixed batches per index, as the shared validator does (seed ${FUZZ_SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        fc.array(fc.oneof(validEvent, mutatedEvent), { minLength: 1, maxLength: 12 }),
        async (route, items) => {
          const body = JSON.stringify({ events: items });
          const response = await h.post(route, body, h.account.headers);
          const json = (await response.json()) as ErrorJson & {
            accepted?: number;
            rejected?: { index: number }[];
          };
          if (Buffer.byteLength(body) > h.t.deps.config.TRACK_BODY_LIMIT_BYTES && route.endsWith("track")) {
            expect(response.status).toBe(413);
            return;
          }
          if (nestsDeeperThan(items, LIMITS.bodyDepth - 2)) {
            expect(response.status).toBe(400);
            expect(json.error.details).toEqual([{ field: "body", message: expect.stringContaining("nest") }]);
            return;
          }
          const expected = oracle(items, route);
          if (expected.validIds.length === 0) {
            expect(response.status).toBe(400);
            expect(json.error.code).toBe("INVALID");
            expect(json.error.details?.map((d) => d.index)).toEqual(expected.invalid);
            expectFieldsNamed(json.error.details);
            return;
          }
          expect(response.status).toBe(202);
          expect(json.accepted).toBe(expected.validIds.length);
          expect(json.rejected?.map((r) => r.index)).toEqual(expected.invalid);
          expectFieldsNamed(json.rejected as ErrorJson["error"]["details"], false);
          for (const id of expected.validIds) if (id) acceptedIds.add(id);
        },
      ),
      fuzzParameters(150),
    );
  });

  it("answers any JSON value with a 202 or a 400 naming the field, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        fc.oneof(fc.jsonValue(), fc.record({ events: fc.jsonValue() }), nested, prototypeKeys),
        async (route, value) => {
          const response = await h.post(route, JSON.stringify(value) ?? "null", h.account.headers);
          expect([202, 400]).toContain(response.status);
          if (response.status === 400)
            expectFieldsNamed(((await response.json()) as ErrorJson).error.details);
        },
      ),
      fuzzParameters(150),
    );
  });

  it("answers any text that is not JSON with a 400 naming the body", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        fc.oneof(
          fc.string({ unit: "binary" }),
          fc.json().map((j) => `${j}}`),
          fc.constant(""),
        ),
        async (route, text) => {
          let isJson = true;
          try {
            JSON.parse(text);
          } catch {
            isJson = false;
          }
          fc.pre(!isJson);
          const response = await h.post(route, text, h.account.headers);
          expect(response.status).toBe(400);
          expect(((await response.json()) as ErrorJson).error.details).toEqual([
            { field: "body", message: "must be valid JSON" },
          ]);
        },
      ),
      fuzzParameters(100),
    );
  });

  it("stored every accepted event, lost no job, and stored nothing the schema refuses", async () => {
    await h.drained();
    expect(h.failedJobs()).toEqual([]);
    const rows = await storedEventsAsAccepted(h.t);
    const stored = new Set(rows.map((r) => String(r.event_id)));
    expect(acceptedIds.size).toBeGreaterThan(100);
    expect([...acceptedIds].filter((id) => !stored.has(id))).toEqual([]);
    const unfit = rows
      .map((row) => ({ row, result: storedEvent.safeParse(row) }))
      .filter(({ result }) => !result.success)
      .map(({ row, result }) => ({ event_id: row.event_id, issues: result.error?.issues.slice(0, 3) }));
    expect(unfit).toEqual([]);
    // Prototype keys in bodies stayed data: nothing was added to every object.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
