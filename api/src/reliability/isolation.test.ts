import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExportWorker } from "../exports/worker";
import { pageView } from "../ingest/testing";
import type { ExportWorker } from "../ports";
import { REFERENCE_BUNDLE_PATH } from "../routes/docs";
import {
  type AccountWithKey,
  createTestApp,
  type EventPipeline,
  funnelBody,
  newFunnelBody,
  putAbTestRequest,
  putFunnelRequest,
  startEventPipeline,
  storedEventRows,
  storedRejectedPayloads,
} from "../testing";
import {
  type AccountData,
  type IdClaim,
  idClaims,
  leakedSecrets,
  matrixPeriod,
  seedAccountData,
  unknownKey,
} from "./isolation-fixtures";
import { documentedOperations, fillPath, type Operation, registeredHandlers } from "./routes";

/**
 * The isolation matrix. Every operation of the OpenAPI document is either keyed, and then run
 * through every case below with two accounts A and B that each own one of everything, or listed
 * in PUBLIC with its reason. A route added later is picked up from the document (and from Hono's
 * handler table, should it be left out of the document) and fails here until it is covered.
 *
 * Per keyed operation: no key, an unknown key and A's revoked key are 401; B's key with one of
 * A's ids in place of B's own (each path parameter, each id in the query, the body) is a 404 (or
 * the answer the contract gives) and carries none of A's ids, names or markers; B's own request
 * carries none either; A's own key gets through. Afterwards A's data answers exactly as before.
 */

/** Operations without an API key, and why. Every one is still checked to leak nothing. */
const PUBLIC: Record<string, string> = {
  "GET /healthz": "liveness probe (CONTRACT: health needs no key)",
  "GET /readyz": "readiness probe (CONTRACT: health needs no key)",
  "GET /metrics":
    "Prometheus scrape; process and route-pattern figures, no account data (METRICS_TOKEN guards it when set)",
  "POST /api/v1/analytics/track":
    "browsers send events without a key; limited per client IP (limits.test.ts)",
  "POST /internal/ingest": "the edge's batches; the HMAC signature is the credential (limits.test.ts)",
  "GET /api/v1/analytics/export/{job_id}/download": "the signed link is the credential (checked below)",
};

/** Handlers outside the OpenAPI document: the document itself and its browsable reference. */
const UNDOCUMENTED: Record<string, string> = {
  "GET /openapi.json": "the OpenAPI document",
  "GET /docs": "the API reference page",
  [`GET ${REFERENCE_BUNDLE_PATH}`]: "the reference page's script, the installed @scalar/api-reference",
  "GET /": "the dashboard's page: it reads the report routes with the key its user signs in with",
  "GET /dashboard/*": "the dashboard's scripts and styles (one of them is requested below)",
};

/** A path each undocumented handler answers (a wildcard stands for one of its files). */
const undocumentedPath = (key: string) => (key.split(" ")[1] ?? "").replace("/*", "/app.js");

/** Request bodies of keyed operations, built from one account's data. */
const BODIES: Record<string, (d: AccountData) => unknown> = {
  "PUT /api/v1/funnels/{funnel_id}": (d) => d.funnel,
  "PUT /api/v1/ab-tests/{test_id}": (d) => d.abTest,
  // Names nothing of an account's: whoever's key sends it creates a funnel of that key's account.
  "POST /api/v1/funnels": () => newFunnelBody({ name: "Created funnel" }),
  "POST /api/v1/ab-tests": (d) => ({ ...d.abTest, variants: d.abTest.variants.map(({ id: _, ...v }) => v) }),
  "POST /api/v1/analytics/import": (d) => ({
    events: [
      {
        event_type: "page_view",
        funnel_id: d.funnelId,
        page_id: d.funnel.pages?.[0]?.id,
        visitor_id: d.visitorId,
        session_id: d.sessionId,
      },
    ],
  }),
  "POST /api/v1/analytics/export": (d) => ({
    funnel_id: d.funnelId,
    report_type: "overview",
    format: "csv",
    ...matrixPeriod(),
  }),
};

/** Answers other than a 404 when B names A's resource, as the contract has them. */
const CROSS_ACCOUNT_STATUS: Record<string, number> = {
  // "Idempotent; never a 404": recorded for B's account only (A's answers are unchanged, below).
  "POST /api/v1/analytics/visitors/{visitor_id}/consent-withdrawn": 202,
  // Events of another account's funnel are accepted and kept aside as unknown_funnel, never counted.
  "POST /api/v1/analytics/import": 202,
};

/** Answers that move with the clock (sliding windows), left out of the before/after comparison. */
const TIME_DEPENDENT = new Set(["GET /api/v1/analytics/funnels/{funnel_id}/realtime"]);

type Slot = { in: "path" | "query" | "body"; name: string };

function pathValue(d: AccountData, name: string): string {
  const values: Record<string, string | undefined> = {
    funnel_id: d.funnelId,
    step_id: d.funnel.steps[1]?.id,
    test_id: d.testId,
    visitor_id: d.visitorId,
    job_id: d.exportId,
  };
  const value = values[name];
  if (value === undefined) throw new Error(`isolation matrix: no value for path parameter ${name}`);
  return value;
}

/** The value sent for a query parameter; none for an optional one the matrix has no value for (a cursor). */
function queryValue(d: AccountData, name: string, required: boolean): string | undefined {
  const values: Record<string, string> = {
    ...matrixPeriod(),
    tz: "Europe/Berlin",
    granularity: "day",
    page: "1",
    page_size: "50",
    test_id: d.testId,
    funnel_id: d.funnelId,
  };
  const value = values[name];
  if (value === undefined && required)
    throw new Error(`isolation matrix: no value for query parameter ${name}`);
  return value;
}

const ID_QUERY_PARAMETERS = new Set(["test_id", "funnel_id"]);

/** The id-bearing parts of a request: each one is swapped for the other account's in turn. */
function slotsOf(op: Operation): Slot[] {
  return [
    ...op.parameters.filter((p) => p.in === "path").map((p) => ({ in: "path" as const, name: p.name })),
    ...op.parameters
      .filter((p) => p.in === "query" && ID_QUERY_PARAMETERS.has(p.name))
      .map((p) => ({ in: "query" as const, name: p.name })),
    ...(op.hasBody ? [{ in: "body" as const, name: "body" }] : []),
  ];
}

const t = await createTestApp({ config: { REPORT_CACHE_SECONDS: 0 } });
const operations = await documentedOperations(t);
const keyed = operations.filter((op) => op.keyed);
const publicOps = operations.filter((op) => !op.keyed);

let pipeline: EventPipeline;
let exportWorker: ExportWorker;
let a: AccountData;
let b: AccountData;
/** A's answers to every GET before B's requests, to compare with afterwards. */
const before = new Map<string, { status: number; body: string }>();

async function waitForExport(account: AccountWithKey, jobId: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await t.app.request(`/api/v1/analytics/export/${jobId}`, { headers: account.headers });
    const status = (await response.json()) as { status: string; download_url?: string; error?: string };
    if (status.status === "completed" && status.download_url) return status.download_url;
    if (status.status === "failed") throw new Error(`export failed: ${status.error}`);
    if (Date.now() > deadline) throw new Error(`export still ${status.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The request of `op` about `owner`'s resources with `authorization`; `swap` puts `other`'s value
 * in that one slot (B's key naming one of A's ids among B's own).
 */
function send(
  op: Operation,
  owner: AccountData,
  authorization: string | undefined,
  swap?: { slot: Slot; other: AccountData },
): Promise<Response> {
  const whose = (slot: Slot) =>
    swap && swap.slot.in === slot.in && swap.slot.name === slot.name ? swap.other : owner;
  const path = fillPath(
    op.path,
    Object.fromEntries(
      op.parameters
        .filter((p) => p.in === "path")
        .map((p) => [p.name, pathValue(whose({ in: "path", name: p.name }), p.name)]),
    ),
  );
  const query = new URLSearchParams(
    op.parameters
      .filter((p) => p.in === "query")
      .flatMap((p): [string, string][] => {
        const value = queryValue(whose({ in: "query", name: p.name }), p.name, p.required);
        return value === undefined ? [] : [[p.name, value]];
      }),
  ).toString();
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
  const init: RequestInit = { method: op.method, headers };
  if (op.hasBody) {
    const body = BODIES[op.key];
    if (!body) throw new Error(`isolation matrix: no request body for ${op.key}`);
    init.body = JSON.stringify(body(whose({ in: "body", name: "body" })));
    headers["content-type"] = "application/json";
  }
  const url = query ? `${path}?${query}` : path;
  return Promise.resolve(t.app.request(url, init)).then((response) => {
    sentWith.set(response, `${decodeURIComponent(url)} ${String(init.body ?? "")}`);
    return response;
  });
}

/** What each response's request carried (its URL and body), for `expectNoLeak`. */
const sentWith = new WeakMap<Response, string>();

async function expectNoLeak(response: Response, from: AccountData, what: string): Promise<string> {
  const text = await response.text();
  expect(
    leakedSecrets(from, text, sentWith.get(response)),
    `${what}: answered ${response.status} with account ${from.label}'s data`,
  ).toEqual([]);
  return text;
}

/** Status and body, but for the request id every answer has its own of. */
async function comparable(response: Response): Promise<{ status: number; body: string }> {
  const body = (await response.text()).replace(/"request_id":"[^"]*"/g, '"request_id":""');
  return { status: response.status, body };
}

/**
 * `op` with `intruder`'s key naming one of `owner`'s ids in each slot in turn: a 404 (or the
 * contract's answer) that carries none of `owner`'s data; the intruder's own request neither.
 */
async function expectNothingOf(op: Operation, owner: AccountData, intruder: AccountData): Promise<void> {
  for (const slot of slotsOf(op)) {
    const response = await send(op, intruder, intruder.account.headers.authorization, { slot, other: owner });
    const what = `${intruder.label}'s key with ${owner.label}'s ${slot.in} ${slot.name}`;
    expect(response.status, what).toBeLessThan(500);
    const expected = CROSS_ACCOUNT_STATUS[op.key];
    if (expected !== undefined) expect(response.status, what).toBe(expected);
    else if (slot.in === "path") expect(response.status, what).toBe(404);
    else if (response.status >= 300) expect([400, 404], what).toContain(response.status);
    const text = await expectNoLeak(response, owner, what);
    if (response.status === 404) expect(JSON.parse(text)).toMatchObject({ error: { code: "NOT_FOUND" } });
  }
  // The intruder's own request (a list, a report of its own funnel) holds nothing of the owner's.
  if (op.method === "GET") {
    const own = await send(op, intruder, intruder.account.headers.authorization);
    expect(own.status, `${intruder.label}'s own request`).toBe(200);
    await expectNoLeak(own, owner, `${intruder.label}'s own request`);
  }
}

beforeAll(async () => {
  exportWorker = await startExportWorker(t.deps, { cleanup: false });
  pipeline = startEventPipeline(t);
  a = await seedAccountData(t, pipeline, "A", waitForExport);
  b = await seedAccountData(t, pipeline, "B", waitForExport);
  for (const op of keyed.filter((o) => o.method === "GET" && !TIME_DEPENDENT.has(o.key))) {
    const response = await send(op, a, a.account.headers.authorization);
    before.set(op.key, await comparable(response));
  }
});

afterAll(async () => {
  await pipeline?.close();
  await exportWorker?.close();
  await t.close();
});

describe("the route list", () => {
  it("has every documented operation either keyed or listed as public, and nothing stale", () => {
    expect(operations.length).toBeGreaterThan(20);
    const unlisted = publicOps.filter((op) => !(op.key in PUBLIC)).map((op) => op.key);
    expect(unlisted, "operations without an API key that are not listed in PUBLIC").toEqual([]);
    const listedButKeyed = keyed.filter((op) => op.key in PUBLIC).map((op) => op.key);
    expect(listedButKeyed, "PUBLIC lists operations that require a key").toEqual([]);
    const documented = new Set(operations.map((op) => op.key));
    expect(
      Object.keys(PUBLIC).filter((k) => !documented.has(k)),
      "stale PUBLIC entries",
    ).toEqual([]);
    expect(
      Object.keys(BODIES).filter((k) => !documented.has(k)),
      "stale BODIES entries",
    ).toEqual([]);
    const bodiless = keyed.filter((op) => op.hasBody && !(op.key in BODIES)).map((op) => op.key);
    expect(bodiless, "keyed operations with a body but no BODIES entry").toEqual([]);
  });

  it("has every handler Hono runs in the OpenAPI document, or listed as undocumented", () => {
    const documented = new Set(operations.map((op) => op.key));
    const missing = registeredHandlers(t).filter((k) => !documented.has(k) && !(k in UNDOCUMENTED));
    expect(missing, "handlers outside the OpenAPI document").toEqual([]);
  });
});

describe.each(keyed.map((op) => [op.key, op] as const))("%s", (_key, op) => {
  it("refuses no key, an unknown key and a revoked key (401), saying nothing of the account", async () => {
    for (const [label, authorization] of [
      ["no key", undefined],
      ["an unknown key", unknownKey()],
      ["a revoked key", `Bearer ${a.revokedKey}`],
    ] as const) {
      const response = await send(op, a, authorization);
      expect(response.status, label).toBe(401);
      const text = await expectNoLeak(response, a, label);
      expect(JSON.parse(text)).toMatchObject({ error: { code: "UNAUTHORIZED" } });
    }
  });

  it("shows another account's key none of the account's data", () => expectNothingOf(op, a, b));
});

describe("after every request of the other account", () => {
  it("the account's own answers are what they were", async () => {
    // Sends nothing; waits until the events B imported into A's funnel are written (kept aside).
    await pipeline.importEvents(b.account.headers, []);
    for (const [key, was] of before) {
      const op = keyed.find((o) => o.key === key);
      if (!op) throw new Error(key);
      const response = await send(op, a, a.account.headers.authorization);
      expect(await comparable(response), key).toEqual(was);
    }
  });
});

describe("public operations", () => {
  it.each(
    publicOps
      .filter((op) => op.method === "GET" && !op.path.includes("{"))
      .map((op) => [op.key, op] as const),
  )("%s answers without a key and with no account's data", async (_key, op) => {
    const response = await t.app.request(op.path);
    expect(response.status).toBeLessThan(500);
    const text = await expectNoLeak(response, a, op.key);
    expect(leakedSecrets(b, text)).toEqual([]);
  });

  it.each(Object.keys(UNDOCUMENTED))("%s answers without a key and with no account's data", async (key) => {
    const response = await t.app.request(undocumentedPath(key));
    expect(response.status).toBe(200);
    await expectNoLeak(response, a, key);
  });

  it("POST /api/v1/analytics/track and /internal/ingest refuse a bare body, naming none of the data", async () => {
    for (const path of ["/api/v1/analytics/track", "/internal/ingest"]) {
      const response = await t.app.request(path, {
        method: "POST",
        headers: { ...a.account.headers, "content-type": "application/json" },
        body: JSON.stringify({ funnel_id: a.funnelId }),
      });
      expect([400, 401, 503]).toContain(response.status);
      // The refused body is echoed by index and field at most, never by value.
      await expectNoLeak(response, a, path);
    }
  });

  it("an export link opens only its own file: another job's signature, or a changed one, is a 403", async () => {
    const own = await t.app.request(a.downloadUrl);
    expect(own.status).toBe(200);
    const mine = new URL(a.downloadUrl, "http://api");
    const theirs = new URL(b.downloadUrl, "http://api");
    const cases = [
      `${mine.pathname}?${theirs.searchParams}`,
      `${mine.pathname}?expires=${mine.searchParams.get("expires")}&signature=${"0".repeat(64)}`,
      `${mine.pathname}?expires=${Number(mine.searchParams.get("expires")) + 1}&signature=${mine.searchParams.get("signature")}`,
    ];
    for (const url of cases) {
      const response = await t.app.request(url);
      expect(response.status, url).toBe(403);
      await expectNoLeak(response, a, url);
    }
    // A link without its expiry and signature is one the server did not sign either.
    const unsigned = await t.app.request(mine.pathname);
    expect(unsigned.status).toBe(403);
    await expectNoLeak(unsigned, a, mine.pathname);
  });
});

/**
 * Delete and reclaim: an account (R) deletes its A/B test and funnel, and B tries to take each of
 * their ids (funnel, step, page, test, variant) as its own. Catalog ids are public and events stay
 * after a delete, so a released id must stay R's: B's claim is answered exactly as while the id
 * was live (no oracle for the release), every route shows B nothing of R's, the released funnel's
 * new traffic reaches no one, and R, putting its funnel and test again, has its history back.
 */
describe("ids an account deleted", () => {
  let r: AccountData;
  let claims: IdClaim[];
  /** B's claims' answers while R's ids are live. */
  const whileLive: { status: number; body: string }[] = [];
  /** R's report answers before the delete. */
  const reportsBefore = new Map<string, { status: number; body: string }>();
  const reports = () =>
    keyed.filter(
      (o) => o.method === "GET" && o.path.startsWith("/api/v1/analytics/") && !TIME_DEPENDENT.has(o.key),
    );

  const claim = (c: IdClaim) =>
    t.app.request(c.path, {
      method: c.method,
      headers: { ...b.account.headers, "content-type": "application/json" },
      body: JSON.stringify(c.body),
    });

  beforeAll(async () => {
    r = await seedAccountData(t, pipeline, "R", waitForExport);
    claims = idClaims(b, r);
    for (const op of reports()) {
      const response = await send(op, r, r.account.headers.authorization);
      expect(response.status, op.key).toBe(200);
      reportsBefore.set(op.key, await comparable(response));
    }
  });

  it("refuses B each of R's ids while R has them", async () => {
    for (const c of claims) {
      const response = await claim(c);
      expect(response.status, c.kind).toBe(c.status);
      const answer = await comparable(response);
      if (c.field) expect(answer.body, c.kind).toContain(`"field":"${c.field}"`);
      whileLive.push(answer);
    }
  });

  it("keeps them R's after R deletes its test and funnel: B's claims are answered exactly as before", async () => {
    const del = (path: string) => t.app.request(path, { method: "DELETE", headers: r.account.headers });
    expect((await del(`/api/v1/ab-tests/${r.testId}`)).status).toBe(204);
    expect((await del(`/api/v1/funnels/${r.funnelId}`)).status).toBe(204);
    for (const [i, c] of claims.entries()) {
      const response = await claim(c);
      expect(await comparable(response), `B's claim of R's released ${c.kind} id`).toEqual(whileLive[i]);
    }
  });

  // Deletes last: B's delete of a funnel it had taken over would hide what B's reads show.
  const deletesLast = [...keyed].sort(
    (x, y) => Number(x.method === "DELETE") - Number(y.method === "DELETE"),
  );
  it.each(deletesLast.map((op) => [op.key, op] as const))(
    "%s shows B nothing of R's released ids",
    (_key, op) => expectNothingOf(op, r, b),
  );

  it("exports B no conversions of R's released funnel", async () => {
    const response = await t.app.request("/api/v1/analytics/export", {
      method: "POST",
      headers: { ...b.account.headers, "content-type": "application/json" },
      body: JSON.stringify({
        funnel_id: r.funnelId,
        report_type: "conversions",
        format: "csv",
        ...matrixPeriod(),
      }),
    });
    expect(response.status).toBe(404);
    expect(leakedSecrets(r, await response.text(), r.funnelId)).toEqual([]);
  });

  it("keeps a released funnel's new public traffic aside, under no account", async () => {
    // R's second funnel has had no traffic, so the ingest worker holds no remembered owner for it
    // (it keeps one a few seconds, and only ever the id's owner): it reads the catalog.
    const released = r.secondFunnelId;
    const del = await t.app.request(`/api/v1/funnels/${released}`, {
      method: "DELETE",
      headers: r.account.headers,
    });
    expect(del.status).toBe(204);
    expect((await putFunnelRequest(t.app, b.account.headers, released, funnelBody())).status).toBe(404);

    const eventId = randomUUID();
    const response = await t.app.request("/api/v1/analytics/track", {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.20" },
      body: JSON.stringify(pageView(released, { event_id: eventId })),
    });
    expect(response.status, await response.clone().text()).toBe(202);
    // Sends nothing; waits until the queue holds no job (the tracked event's included).
    await pipeline.importEvents(b.account.headers, []);
    const stored = await storedEventRows(t);
    expect(stored.filter((e) => e.event_id === eventId)).toEqual([]);
    const aside = (await storedRejectedPayloads(t)).filter((e) => e.payload.event_id === eventId);
    expect(aside.map((e) => [e.reason, e.account_id])).toEqual([["unknown_funnel", null]]);
    // Whatever B sent for R's released funnel (the import above) was kept aside too.
    const underFunnel = stored.filter((e) => e.funnel_id === r.funnelId).map((e) => e.account_id);
    expect(new Set(underFunnel)).toEqual(new Set([r.account.accountId]));
  });

  it("gives R its own history back when it puts its funnel and test again", async () => {
    expect((await putFunnelRequest(t.app, r.account.headers, r.funnelId, r.funnel)).status).toBe(200);
    expect((await putAbTestRequest(t.app, r.account.headers, r.testId, r.abTest)).status).toBe(200);
    for (const op of reports()) {
      const response = await send(op, r, r.account.headers.authorization);
      expect(await comparable(response), op.key).toEqual(reportsBefore.get(op.key));
    }
  });
});

describe("the account's own key", () => {
  // Reads first; then writes; deletes last (tests before funnels, whose deletion takes its tests along).
  const order = (op: Operation) => ["GET", "PUT", "POST", "DELETE"].indexOf(op.method);
  const ordered = [...keyed].sort((x, y) => order(x) - order(y) || x.path.localeCompare(y.path));
  it.each(ordered.map((op) => [op.key, op] as const))("gets through %s", async (_key, op) => {
    const response = await send(op, a, a.account.headers.authorization);
    expect(response.status, await response.clone().text()).toBeLessThan(300);
  });
});
