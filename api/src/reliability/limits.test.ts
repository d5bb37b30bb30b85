import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { LIMITS } from "@funnel/events";
import { SIGNATURE_HEADER, signatureHeaders, TIMESTAMP_HEADER } from "@funnel/events/signing";
import { storedEvent } from "@funnel/fixtures";
import { serve } from "@hono/node-server";
import fc from "fast-check";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../app";
import { type Config, loadConfig } from "../config";
import { BODY_LIMIT_BYTES } from "../http/body-limit";
import { MemoryRateLimiter } from "../infra/rate-limiter-memory";
import { pageView } from "../ingest/testing";
import { abTestBody, funnelBody, newAbTestBody, newFunnelBody, storedEventRows } from "../testing";
import { FUZZ_SEED, fuzzParameters } from "./fuzz";
import { createIngestHarness, type IngestHarness } from "./harness";
import { listenRaw, rawRequest } from "./raw-http";

/**
 * The documented limits (docs/architecture.md, "Limits"), each tried at its boundary and one past it; the per-IP limit against
 * clients that send their own forwarding headers, over a real socket; signed edge batches replayed
 * or altered. Formula neutralisation in CSV/XLSX exports is api/src/exports/render.test.ts's.
 */

const EDGE_SECRET = "reliability-edge-signing-secret-0123456789";
const TRACK = "/api/v1/analytics/track";
const IMPORT = "/api/v1/analytics/import";

let h: IngestHarness;

beforeAll(async () => {
  h = await createIngestHarness({
    config: { RATE_LIMIT_EVENTS_PER_SECOND: 1_000_000, EDGE_SIGNING_SECRET: EDGE_SECRET },
  });
});
afterAll(() => h?.close());

const event = (overrides: Record<string, unknown> = {}) =>
  pageView(h.funnelId, { event_id: randomUUID(), page_id: h.funnel.pages?.[0]?.id, ...overrides });

/** An event as the edge forwards it: validated, enriched there, IP already truncated. */
const edgeEvent = () =>
  storedEvent({
    event_type: "page_view",
    funnel_id: h.funnelId,
    session_id: `s-${randomUUID()}`,
    visitor_id: randomUUID(),
    occurred_at: new Date().toISOString(),
    page_id: h.funnel.pages?.[0]?.id ?? null,
    url: "https://shop.example.com/",
    user_agent: "Mozilla/5.0",
    ip_address: "198.51.100.0",
  });

/** Sends one event through /import and returns the field names it was refused for (none: accepted). */
async function refusedFields(overrides: Record<string, unknown>): Promise<string[]> {
  const response = await h.post(IMPORT, { events: [event(), event(overrides)] }, h.account.headers);
  expect(response.status).toBe(202);
  const body = (await response.json()) as { rejected: { errors: { field: string }[] }[] };
  return body.rejected.flatMap((r) => r.errors.map((e) => e.field));
}

/** `{ p: "xxx…" }` serialising to exactly `bytes` bytes of JSON. */
const metadataOf = (bytes: number) => ({ p: "x".repeat(bytes - '{"p":""}'.length) });

const nestedObject = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { k: value };
  return value;
};

describe("the documented limits, at the boundary", () => {
  it("events per request: 100 on /track, 10,000 on /import; one more is a 400 naming `events`", async () => {
    for (const [path, max] of [
      [TRACK, LIMITS.eventsPerTrackRequest],
      [IMPORT, LIMITS.eventsPerImportRequest],
    ] as const) {
      const at = await h.post(
        path,
        { events: Array.from({ length: max }, () => event()) },
        h.account.headers,
      );
      expect(at.status, `${path} with ${max}`).toBe(202);
      expect(((await at.json()) as { accepted: number }).accepted).toBe(max);
      const past = await h.post(
        path,
        { events: Array.from({ length: max + 1 }, () => event()) },
        h.account.headers,
      );
      expect(past.status).toBe(400);
      expect(await past.json()).toMatchObject({ error: { details: [{ field: "events" }] } });
    }
  });

  it("metadata: 8 KiB of JSON and 32 levels; one byte or one level more is refused by field", async () => {
    expect(await refusedFields({ metadata: metadataOf(LIMITS.metadataBytes) })).toEqual([]);
    expect(await refusedFields({ metadata: metadataOf(LIMITS.metadataBytes + 1) })).toEqual(["metadata"]);
    expect(await refusedFields({ metadata: nestedObject(LIMITS.metadataDepth) })).toEqual([]);
    expect(await refusedFields({ metadata: nestedObject(LIMITS.metadataDepth + 1) })).toEqual(["metadata"]);
  });

  it("url and referrer 2,048, user_agent 512, session_id 100 characters", async () => {
    for (const [field, max] of [
      ["url", LIMITS.urlLength],
      ["referrer", LIMITS.urlLength],
      ["user_agent", LIMITS.userAgentLength],
      ["session_id", LIMITS.sessionIdLength],
    ] as const) {
      expect(await refusedFields({ [field]: "u".repeat(max) }), field).toEqual([]);
      expect(await refusedFields({ [field]: "u".repeat(max + 1) }), field).toEqual([field]);
    }
  });

  it("a User-Agent header longer than 512 characters is kept to 512, not a reason to lose the event", async () => {
    const id = randomUUID();
    const response = await h.post(TRACK, event({ event_id: id, user_agent: undefined }), {
      "user-agent": `Mozilla/5.0 ${"u".repeat(1_000)}`,
    });
    expect(response.status).toBe(202);
    await h.drained();
    const row = (await storedEventRows(h.t)).find((r) => r.event_id === id);
    expect(row?.user_agent).toHaveLength(LIMITS.userAgentLength);
  });

  it("client timestamp: up to 5 minutes ahead is kept, further ahead is receive time; 396 days old at most", async () => {
    const day = 86_400_000;
    const ahead = { near: randomUUID(), far: randomUUID() };
    const sentAt = Date.now();
    const near = new Date(sentAt + LIMITS.futureSkewMs - 10_000).toISOString();
    expect(await refusedFields({ event_id: ahead.near, timestamp: near })).toEqual([]);
    expect(
      await refusedFields({
        event_id: ahead.far,
        timestamp: new Date(sentAt + LIMITS.futureSkewMs + 10_000).toISOString(),
      }),
    ).toEqual([]);
    expect(
      await refusedFields({ timestamp: new Date(Date.now() - 396 * day + 60_000).toISOString() }),
    ).toEqual([]);
    expect(
      await refusedFields({ timestamp: new Date(Date.now() - 396 * day - 60_000).toISOString() }),
    ).toEqual(["timestamp"]);
    await h.drained();
    const rows = await storedEventRows(h.t);
    expect(rows.find((r) => r.event_id === ahead.near)?.created_at).toBe(near);
    const far = Date.parse(rows.find((r) => r.event_id === ahead.far)?.created_at ?? "");
    expect(far).toBeGreaterThanOrEqual(sentAt);
    expect(far).toBeLessThan(sentAt + LIMITS.futureSkewMs);
  });

  it("a body nests at most 64 levels; deeper is a 400 naming the body, never a crash", async () => {
    const at = await h.post(
      IMPORT,
      { events: [event()], extra: nestedObject(LIMITS.bodyDepth - 1) },
      h.account.headers,
    );
    expect(at.status).toBe(202);
    for (const path of [TRACK, IMPORT]) {
      const past = await h.post(
        path,
        { events: [event()], extra: nestedObject(LIMITS.bodyDepth) },
        h.account.headers,
      );
      expect(past.status).toBe(400);
      expect(await past.json()).toMatchObject({ error: { details: [{ field: "body" }] } });
      // Far deeper than any stack: JSON text of 100,000 nested arrays.
      const deep = `{"events":[${"[".repeat(100_000)}${"]".repeat(100_000)}]}`;
      expect((await h.post(path, deep, h.account.headers)).status).toBe(400);
    }
  });

  it("body bytes: the configured limit passes, one byte more is a 413; the defaults are the documented ones", async () => {
    const defaults = loadConfig({ NODE_ENV: "test" });
    expect(defaults.TRACK_BODY_LIMIT_BYTES).toBe(262_144);
    expect(defaults.IMPORT_BODY_LIMIT_BYTES).toBe(33_554_432);
    const limit = 4_096;
    const app = createApp({
      ...h.t.deps,
      config: { ...h.t.deps.config, TRACK_BODY_LIMIT_BYTES: limit, IMPORT_BODY_LIMIT_BYTES: limit },
    });
    const bodyOf = (bytes: number) => {
      const base = JSON.stringify({ events: [event({ metadata: { p: "" } })] });
      return base.replace('"p":""', `"p":"${"x".repeat(bytes - base.length)}"`);
    };
    for (const path of [TRACK, IMPORT]) {
      for (const [bytes, status] of [
        [limit, 202],
        [limit + 1, 413],
      ] as const) {
        const body = bodyOf(bytes);
        expect(Buffer.byteLength(body)).toBe(bytes);
        const response = await app.request(path, {
          method: "POST",
          headers: { ...h.account.headers, "content-type": "application/json" },
          body,
        });
        expect(response.status, `${path} ${bytes} bytes`).toBe(status);
      }
    }
  });
});

describe(`the per-IP limit of /track against forged forwarding headers (seed ${FUZZ_SEED})`, () => {
  /** The app over a real socket, with its own limiter whose clock stands still. */
  async function listen(config: Partial<Config>) {
    const limiter = new MemoryRateLimiter({ eventsPerSecond: 100, now: () => 1_000_000 });
    const app = createApp({ ...h.t.deps, limiter, config: { ...h.t.deps.config, ...config } });
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise<void>((resolve) => server.once("listening", resolve));
    const { port } = server.address() as AddressInfo;
    const track = (events: number, headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${port}${TRACK}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ events: Array.from({ length: events }, () => event()) }),
      });
    return { track, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  const headerText = fc.string({
    unit: fc.constantFrom(..."0123456789abcdef.:, ;=unknown[]fF"),
    maxLength: 60,
  });
  const address = fc.oneof(fc.ipV4(), fc.ipV6(), headerText);
  const forged = fc.record({
    "x-forwarded-for": fc.array(address, { maxLength: 4 }).map((a) => a.join(", ")),
    "x-real-ip": address,
    forwarded: address.map((a) => `for=${a}`),
    "cf-connecting-ip": address,
    "true-client-ip": address,
  });

  it("without CLIENT_IP_HEADER, the socket peer is the client whatever headers it sends", async () => {
    const server = await listen({ CLIENT_IP_HEADER: undefined });
    try {
      expect((await server.track(100, {})).status).toBe(202);
      await fc.assert(
        fc.asyncProperty(forged, async (headers) => {
          const response = await server.track(1, headers);
          expect(response.status).toBe(429);
          await response.arrayBuffer();
        }),
        fuzzParameters(40),
      );
    } finally {
      await server.close();
    }
  });

  it("with CLIENT_IP_HEADER, only the entry the trusted proxy added counts", async () => {
    const server = await listen({ CLIENT_IP_HEADER: "x-forwarded-for", TRUSTED_PROXY_HOPS: 1 });
    const proxySaw = "203.0.113.9";
    try {
      expect((await server.track(100, { "x-forwarded-for": proxySaw })).status).toBe(202);
      await fc.assert(
        fc.asyncProperty(forged, async (headers) => {
          // What the proxy forwards: the client's own header, then the address it saw.
          const sent = headers["x-forwarded-for"];
          const response = await server.track(1, {
            ...headers,
            "x-forwarded-for": sent ? `${sent}, ${proxySaw}` : proxySaw,
          });
          expect(response.status).toBe(429);
          await response.arrayBuffer();
        }),
        fuzzParameters(40),
      );
      // Another client behind the same proxy has its own budget.
      expect((await server.track(1, { "x-forwarded-for": "203.0.113.10" })).status).toBe(202);
    } finally {
      await server.close();
    }
  });
});

describe("signed edge batches", () => {
  const send = (raw: string, headers: Record<string, string>) => h.post("/internal/ingest", raw, headers);

  it("a batch replayed as captured is refused, even all at once, and its events are stored once", async () => {
    const first = edgeEvent();
    const raw = JSON.stringify({ events: [first] });
    const headers = await signatureHeaders(EDGE_SECRET, raw);
    const statuses = await Promise.all(
      Array.from({ length: 5 }, () => send(raw, headers).then((r) => r.status)),
    );
    expect(statuses.sort()).toEqual([202, 401, 401, 401, 401]);
    const upper = { ...headers, [SIGNATURE_HEADER]: (headers[SIGNATURE_HEADER] ?? "").toUpperCase() };
    const replay = await send(raw, upper);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({
      error: { code: "UNAUTHORIZED", message: "batch signature replayed" },
    });
    // The edge's retry of the same batch is signed anew, and is taken (the event stays stored once).
    expect((await send(raw, await signatureHeaders(EDGE_SECRET, raw, Date.now() + 1))).status).toBe(202);
    await h.drained();
    expect((await storedEventRows(h.t)).filter((r) => r.event_id === first.event_id)).toHaveLength(1);
  });

  it(`a batch altered anywhere after signing is refused (seed ${FUZZ_SEED})`, async () => {
    const raw = JSON.stringify({ events: [edgeEvent(), edgeEvent()] });
    const headers = await signatureHeaders(EDGE_SECRET, raw);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: raw.length - 1 }),
        fc.string({ minLength: 1, maxLength: 3 }),
        fc.integer({ min: -1_000, max: 1_000 }),
        async (at, insert, shift) => {
          const altered = raw.slice(0, at) + insert + raw.slice(at + 1);
          fc.pre(altered !== raw);
          expect((await send(altered, headers)).status).toBe(401);
          fc.pre(shift !== 0);
          const moved = { ...headers, [TIMESTAMP_HEADER]: String(Number(headers[TIMESTAMP_HEADER]) + shift) };
          expect((await send(raw, moved)).status).toBe(401);
        },
      ),
      fuzzParameters(100),
    );
  });
});

describe("every route that reads a body has a limit, enforced before the body is read whole", () => {
  /** Small /track and /import limits, so that going past them is quick; the rest are the code's. */
  const TRACK_LIMIT = 64 * 1024;
  const IMPORT_LIMIT = 1024 * 1024;
  /** What a server may read past a limit before it stops: a few socket reads, never the body. */
  const READ_PAST_LIMIT = 1024 * 1024;
  const key = () => h.account.headers;
  /** Any well-formed, fresh signature: the limit comes before the signature is checked. */
  const wellFormedSignature = () => ({
    [TIMESTAMP_HEADER]: String(Date.now()),
    [SIGNATURE_HEADER]: "ab".repeat(32),
  });

  interface BodyRoute {
    method: "POST" | "PUT";
    /** As the OpenAPI document names it. */
    pattern: string;
    path: () => string;
    limit: number;
    /** A body the route takes, and the headers to send it with. */
    valid: () => string;
    headers: (raw: string) => Promise<Record<string, string>>;
    ok: number;
  }

  const routes = (): BodyRoute[] => [
    {
      method: "POST",
      pattern: TRACK,
      path: () => TRACK,
      limit: TRACK_LIMIT,
      valid: () => JSON.stringify({ events: [event()] }),
      headers: async () => ({}),
      ok: 202,
    },
    {
      method: "POST",
      pattern: IMPORT,
      path: () => IMPORT,
      limit: IMPORT_LIMIT,
      valid: () => JSON.stringify({ events: [event()] }),
      headers: async () => key(),
      ok: 202,
    },
    {
      method: "POST",
      pattern: "/internal/ingest",
      path: () => "/internal/ingest",
      limit: BODY_LIMIT_BYTES.edgeBatch,
      valid: () => JSON.stringify({ events: [edgeEvent()] }),
      headers: (raw) => signatureHeaders(EDGE_SECRET, raw),
      ok: 202,
    },
    {
      method: "PUT",
      pattern: "/api/v1/funnels/{funnel_id}",
      path: () => `/api/v1/funnels/${randomUUID()}`,
      limit: BODY_LIMIT_BYTES.funnel,
      valid: () => JSON.stringify(funnelBody()),
      headers: async () => key(),
      ok: 200,
    },
    {
      method: "PUT",
      pattern: "/api/v1/ab-tests/{test_id}",
      path: () => `/api/v1/ab-tests/${randomUUID()}`,
      limit: BODY_LIMIT_BYTES.abTest,
      valid: () => JSON.stringify(abTestBody(h.funnelId, h.funnel)),
      headers: async () => key(),
      ok: 200,
    },
    {
      method: "POST",
      pattern: "/api/v1/funnels",
      path: () => "/api/v1/funnels",
      limit: BODY_LIMIT_BYTES.funnel,
      valid: () => JSON.stringify(newFunnelBody()),
      headers: async () => key(),
      ok: 201,
    },
    {
      method: "POST",
      pattern: "/api/v1/ab-tests",
      path: () => "/api/v1/ab-tests",
      limit: BODY_LIMIT_BYTES.abTest,
      valid: () => JSON.stringify(newAbTestBody(h.funnelId, h.funnel)),
      headers: async () => key(),
      ok: 201,
    },
    {
      method: "POST",
      pattern: "/api/v1/analytics/export",
      path: () => "/api/v1/analytics/export",
      limit: BODY_LIMIT_BYTES.export,
      valid: () =>
        JSON.stringify({
          funnel_id: h.funnelId,
          report_type: "overview",
          date_from: "2025-03-01",
          date_to: "2025-03-31",
          format: "csv",
        }),
      headers: async () => key(),
      ok: 202,
    },
  ];

  const appWithLimits = () =>
    createApp({
      ...h.t.deps,
      metrics: new Registry(),
      config: {
        ...h.t.deps.config,
        TRACK_BODY_LIMIT_BYTES: TRACK_LIMIT,
        IMPORT_BODY_LIMIT_BYTES: IMPORT_LIMIT,
      },
    });

  const expectTooLarge = (status: number, body: string, route: BodyRoute) => {
    expect(status, route.pattern).toBe(413);
    expect(JSON.parse(body), route.pattern).toMatchObject({
      error: { code: "PAYLOAD_TOO_LARGE", message: `request body exceeds ${route.limit} bytes` },
    });
  };

  it("the routes below are every route whose OpenAPI definition has a request body", async () => {
    const doc = (await (await h.t.app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    const withBody = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => operation.requestBody !== undefined)
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(withBody.sort()).toEqual(
      routes()
        .map((r) => `${r.method} ${r.pattern}`)
        .sort(),
    );
  });

  it("a body of exactly the limit is taken; one byte more is a 413 naming the limit", async () => {
    const app = appWithLimits();
    for (const route of routes()) {
      const valid = route.valid();
      for (const [bytes, status] of [
        [route.limit, route.ok],
        [route.limit + 1, 413],
      ] as const) {
        // JSON allows whitespace after the value: the same body, padded to the size wanted.
        const raw = valid + " ".repeat(bytes - Buffer.byteLength(valid));
        const response = await app.request(route.path(), {
          method: route.method,
          headers: { "content-type": "application/json", ...(await route.headers(raw)) },
          body: raw,
        });
        expect(
          response.status,
          `${route.pattern} with ${bytes} bytes: ${await response.clone().text()}`,
        ).toBe(status);
        if (status === 413) expectTooLarge(response.status, await response.text(), route);
      }
    }
  });

  it("the largest funnel and A/B test the schemas admit fit their limits", async () => {
    const longest = (length: number) => "€".repeat(length);
    const funnel = {
      name: longest(255),
      steps: Array.from({ length: 100 }, (_, i) => ({
        id: randomUUID(),
        name: longest(255),
        step_type: longest(50),
        position: i,
      })),
      pages: Array.from({ length: 500 }, () => ({
        id: randomUUID(),
        name: longest(255),
        url: longest(2048),
      })),
    };
    const funnelId = randomUUID();
    const raw = JSON.stringify(funnel);
    expect(Buffer.byteLength(raw)).toBeLessThanOrEqual(BODY_LIMIT_BYTES.funnel);
    const stored = await h.t.app.request(`/api/v1/funnels/${funnelId}`, {
      method: "PUT",
      headers: { ...key(), "content-type": "application/json" },
      body: raw,
    });
    expect(stored.status).toBe(200);
    const test = abTestBody(funnelId, funnel, {
      test_name: longest(255),
      completed_at: "2025-03-31T23:59:59.999999999+14:00",
      variants: funnel.pages.slice(0, 20).map((page, i) => ({
        id: randomUUID(),
        variant_name: longest(100),
        is_control: i === 0,
        page_id: page.id,
        traffic_split: 5,
      })),
    });
    const testRaw = JSON.stringify(test);
    expect(Buffer.byteLength(testRaw)).toBeLessThanOrEqual(BODY_LIMIT_BYTES.abTest);
    const storedTest = await h.t.app.request(`/api/v1/ab-tests/${randomUUID()}`, {
      method: "PUT",
      headers: { ...key(), "content-type": "application/json" },
      body: testRaw,
    });
    expect(storedTest.status, await storedTest.clone().text()).toBe(200);
  });

  it("over a socket, a body without a length is cut off at the limit and answered 413", async () => {
    const server = await listenRaw(appWithLimits());
    try {
      for (const route of routes()) {
        const before = server.bytesRead();
        const response = await rawRequest(server.port, {
          method: route.method,
          path: route.path(),
          headers: await route.headers(""),
          // Stands in for the 600 MB upload: far more than the server may keep.
          body: { chunked: route.limit + 4 * 1024 * 1024 },
          timeoutMs: 15_000,
        });
        if (!response) throw new Error("no answer");
        expectTooLarge(response.status, response.body, route);
        // Give the server time to read whatever more it would, then count.
        await new Promise((resolve) => setTimeout(resolve, 200));
        const read = server.bytesRead() - before;
        expect(read, `${route.pattern}: the server read ${read} bytes`).toBeLessThan(
          route.limit + READ_PAST_LIMIT,
        );
      }
    } finally {
      await server.close();
    }
  });

  it("over a socket, a Content-Length past the limit is a 413 from the headers, before any body", async () => {
    const server = await listenRaw(appWithLimits());
    try {
      for (const route of routes()) {
        const response = await rawRequest(server.port, {
          method: route.method,
          path: route.path(),
          headers: {
            ...(route.pattern === "/internal/ingest" ? wellFormedSignature() : await route.headers("")),
          },
          body: { declared: route.limit + 1, send: 0 },
          timeoutMs: 5_000,
        });
        if (!response) throw new Error("no answer");
        expectTooLarge(response.status, response.body, route);
      }
    } finally {
      await server.close();
    }
  });
});

describe("edge batches are refused from their headers, and checked on the bytes received", () => {
  const INGEST = "/internal/ingest";

  it("an unsigned or badly signed batch is a 401 before its body is read", async () => {
    const server = await listenRaw(h.t.app);
    const fresh = String(Date.now());
    try {
      const cases: Record<string, string>[] = [
        {},
        { [TIMESTAMP_HEADER]: fresh },
        { [SIGNATURE_HEADER]: "ab".repeat(32) },
        { [TIMESTAMP_HEADER]: fresh, [SIGNATURE_HEADER]: "ab".repeat(31) },
        { [TIMESTAMP_HEADER]: fresh, [SIGNATURE_HEADER]: "zz".repeat(32) },
        { [TIMESTAMP_HEADER]: "soon", [SIGNATURE_HEADER]: "ab".repeat(32) },
        { [TIMESTAMP_HEADER]: String(Date.now() - 6 * 60_000), [SIGNATURE_HEADER]: "ab".repeat(32) },
      ];
      for (const headers of cases) {
        const before = server.bytesRead();
        // Declares a megabyte and sends none of it: a server that reads first never answers.
        const response = await rawRequest(server.port, {
          method: "POST",
          path: INGEST,
          headers,
          body: { declared: 1024 * 1024, send: 0 },
          timeoutMs: 5_000,
        });
        expect(response?.status, JSON.stringify(headers)).toBe(401);
        expect(JSON.parse(response?.body ?? "{}")).toMatchObject({ error: { code: "UNAUTHORIZED" } });
        expect(server.bytesRead() - before).toBeLessThan(1024);
      }
    } finally {
      await server.close();
    }
  });

  it("bytes that decode to the signed text but are not the signed bytes are refused", async () => {
    const raw = JSON.stringify({ events: [{ ...edgeEvent(), url: "https://shop.example.com/caf\uFFFD" }] });
    const signed = Buffer.from(raw);
    const replacement = Buffer.from("\uFFFD");
    const at = signed.indexOf(replacement);
    // An invalid byte where U+FFFD was, and the signed bytes behind a BOM: both decode to `raw`.
    const invalid = Buffer.concat([signed.subarray(0, at), Buffer.from([0xff]), signed.subarray(at + 3)]);
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), signed]);
    for (const [name, bytes] of [
      ["invalid UTF-8", invalid],
      ["BOM", withBom],
    ] as const) {
      expect(new TextDecoder().decode(bytes)).toBe(raw);
      const response = await h.t.app.request(INGEST, {
        method: "POST",
        headers: { "content-type": "application/json", ...(await signatureHeaders(EDGE_SECRET, raw)) },
        body: bytes,
      });
      expect(response.status, name).toBe(401);
      expect(await response.json()).toMatchObject({
        error: { code: "UNAUTHORIZED", message: "batch signature mismatch" },
      });
    }
    // The signed bytes themselves are taken.
    const response = await h.t.app.request(INGEST, {
      method: "POST",
      headers: { "content-type": "application/json", ...(await signatureHeaders(EDGE_SECRET, raw)) },
      body: signed,
    });
    expect(response.status).toBe(202);
  });
});

describe("an upload the client aborts", () => {
  it("is counted as 499 (client closed request), not as an error, and logged without a stack", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(line) });
    const metrics = new Registry();
    const app = createApp({ ...h.t.deps, logger, metrics });
    const server = await listenRaw(app);
    const signed = await signatureHeaders(EDGE_SECRET, "any");
    const uploads = [
      { method: "POST", path: TRACK, pattern: TRACK, headers: {} },
      { method: "POST", path: IMPORT, pattern: IMPORT, headers: h.account.headers },
      { method: "POST", path: "/internal/ingest", pattern: "/internal/ingest", headers: signed },
      {
        method: "PUT",
        path: `/api/v1/funnels/${randomUUID()}`,
        pattern: "/api/v1/funnels/:funnel_id",
        headers: h.account.headers,
      },
    ];
    try {
      for (const upload of uploads) {
        const response = await rawRequest(server.port, {
          ...upload,
          body: { declared: 60_000, send: 60_000 },
          abortAfter: 20_000,
        });
        expect(response).toBeNull();
      }
      const counted = (text: string, upload: (typeof uploads)[number]) =>
        text.includes(
          `http_requests_total{method="${upload.method}",route="${upload.pattern}",status="499"} 1`,
        );
      const deadline = Date.now() + 10_000;
      let text = await metrics.metrics();
      while (!uploads.every((u) => counted(text, u)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        text = await metrics.metrics();
      }
      for (const upload of uploads) {
        expect(counted(text, upload), `${upload.pattern}\n${text}`).toBe(true);
      }
      const statuses = text.match(/^http_requests_total\{[^}]*status="(\d+)"\}/gm) ?? [];
      expect(statuses.filter((l) => !l.includes('status="499"'))).toEqual([]);
      const logged = lines.map((line) => JSON.parse(line) as { level: number; msg: string; err?: unknown });
      expect(logged.filter((l) => l.level >= 40)).toEqual([]);
      const aborted = logged.filter((l) => l.msg === "client closed request");
      expect(aborted).toHaveLength(uploads.length);
      for (const line of aborted) expect(line.err).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});
