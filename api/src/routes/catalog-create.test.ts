import { randomUUID } from "node:crypto";
import { USER_AGENTS } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  describeAuthCases,
  type EventPipeline,
  newAbTestBody,
  newFunnelBody,
  seedFunnel,
  startEventPipeline,
  storedEventRows,
  type TestApp,
} from "../testing";

/**
 * POST /api/v1/funnels and POST /api/v1/ab-tests: the PUT's bodies without ids. The API gives the
 * ids; the created objects are what GET answers, and events that name those ids are counted.
 */

let t: TestApp;
let pipeline: EventPipeline;
let a: AccountWithKey;
let b: AccountWithKey;

beforeAll(async () => {
  t = await createTestApp({ config: { REPORT_CACHE_SECONDS: 0 } });
  pipeline = startEventPipeline(t);
  a = await createAccountWithKey(t.deps.database);
  b = await createAccountWithKey(t.deps.database);
});
afterAll(async () => {
  await pipeline?.close();
  await t?.close();
});

interface FunnelJson {
  id: string;
  name: string;
  steps: { id: string; name: string; step_type: string; position: number }[];
  pages: { id: string; name: string; url: string | null }[];
}
interface AbTestJson {
  id: string;
  funnel_id: string;
  variants: { id: string; variant_name: string; is_control: boolean; page_id: string | null }[];
}
interface ErrorJson {
  error: { code: string; details?: { field: string; message: string }[] };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function post(path: string, headers: Record<string, string>, body: unknown) {
  return Promise.resolve(
    t.app.request(path, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
}
const get = (path: string, headers: Record<string, string>) =>
  Promise.resolve(t.app.request(path, { headers }));
const fieldsOf = async (response: Response) =>
  ((await response.json()) as ErrorJson).error.details?.map((d) => d.field) ?? [];

/** An A/B test of the created funnel's first two pages, started yesterday (inside the default period). */
function newAbTest(funnel: FunnelJson) {
  return newAbTestBody(funnel.id, funnel, { started_at: new Date(Date.now() - 86_400_000).toISOString() });
}

async function createFunnel(headers = a.headers): Promise<FunnelJson> {
  const response = await post("/api/v1/funnels", headers, newFunnelBody());
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as FunnelJson;
}

describe("POST /api/v1/funnels", () => {
  it("creates the funnel with new ids for it, its steps and its pages; GET at Location answers it", async () => {
    const body = newFunnelBody();
    const response = await post("/api/v1/funnels", a.headers, body);
    expect(response.status).toBe(201);
    const created = (await response.json()) as FunnelJson;
    expect(response.headers.get("location")).toBe(`/api/v1/funnels/${created.id}`);
    const ids = [created.id, ...created.steps.map((s) => s.id), ...created.pages.map((p) => p.id)];
    expect(ids).toHaveLength(1 + body.steps.length + body.pages.length);
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(ids.length);
    expect(created.steps.map(({ id: _, ...s }) => s)).toEqual(body.steps);
    expect(created.pages.map(({ id: _, ...p }) => p)).toEqual(body.pages);

    const fetched = await get(response.headers.get("location") ?? "", a.headers);
    expect(fetched.status).toBe(200);
    expect(await fetched.json()).toEqual(created);
    const listed = (await (await get("/api/v1/funnels", a.headers)).json()) as { funnels: FunnelJson[] };
    expect(listed.funnels.map((f) => f.id)).toContain(created.id);
  });

  it("creates a new funnel each time, without pages when none are given", async () => {
    const { pages: _, ...withoutPages } = newFunnelBody();
    const first = (await (await post("/api/v1/funnels", a.headers, withoutPages)).json()) as FunnelJson;
    const second = (await (await post("/api/v1/funnels", a.headers, withoutPages)).json()) as FunnelJson;
    expect(first.id).not.toBe(second.id);
    expect(first.pages).toEqual([]);
    expect(first.steps.map((s) => s.id)).not.toEqual(expect.arrayContaining(second.steps.map((s) => s.id)));
  });

  it("gives its own ids even when the body carries some, so that none is taken over", async () => {
    const existing = await seedFunnel(t.app, a.headers);
    const body = { ...newFunnelBody(), id: existing.funnelId };
    body.steps = body.steps.map((s, i) => ({ ...s, id: existing.body.steps[i]?.id }));
    const response = await post("/api/v1/funnels", a.headers, body);
    expect(response.status).toBe(201);
    const created = (await response.json()) as FunnelJson;
    expect(created.id).not.toBe(existing.funnelId);
    expect(created.steps.map((s) => s.id)).not.toContain(existing.body.steps[0]?.id);
    const original = (await (
      await get(`/api/v1/funnels/${existing.funnelId}`, a.headers)
    ).json()) as FunnelJson;
    expect(original.steps).toEqual(existing.body.steps);
  });

  it("checks the body as the PUT does, naming each field", async () => {
    const body = newFunnelBody();
    const [first, second] = body.steps;
    const invalid = await post("/api/v1/funnels", a.headers, {
      steps: [first, { ...second, step_type: undefined, position: 1.5 }],
      pages: [{ name: "", url: null }],
    });
    expect(invalid.status).toBe(400);
    expect(await fieldsOf(invalid)).toEqual(
      expect.arrayContaining(["name", "steps.1.step_type", "steps.1.position", "pages.0.name"]),
    );
    const repeated = await post("/api/v1/funnels", a.headers, {
      ...body,
      steps: [first, { ...second, position: first?.position }],
    });
    expect(repeated.status).toBe(400);
    expect(await fieldsOf(repeated)).toEqual(["steps.1.position"]);
    const empty = await post("/api/v1/funnels", a.headers, { ...body, steps: [] });
    expect(await fieldsOf(empty)).toEqual(["steps"]);
  });

  it("creates ids that /track takes and the reports count", async () => {
    const funnel = await createFunnel();
    const [page] = funnel.pages;
    const [step] = funnel.steps;
    const visitor = randomUUID();
    const session = randomUUID();
    const events = [
      { event_type: "page_view", event_id: randomUUID(), page_id: page?.id },
      { event_type: "step_entry", event_id: randomUUID(), funnel_step_id: step?.id },
    ].map((e) => ({ ...e, funnel_id: funnel.id, visitor_id: visitor, session_id: session }));
    const tracked = await t.app.request("/api/v1/analytics/track", {
      method: "POST",
      // As a browser sends it.
      headers: { "content-type": "application/json", "user-agent": USER_AGENTS.chromeWindows },
      body: JSON.stringify({ events }),
    });
    expect(tracked.status).toBe(202);
    expect(await tracked.json()).toMatchObject({ accepted: 2, rejected: [] });
    // Sends nothing; waits until the queue is drained and the tracked events written.
    await pipeline.importEvents(a.headers, []);
    const stored = (await storedEventRows(t)).filter((e) => e.funnel_id === funnel.id);
    expect(stored.map((e) => e.event_id).sort()).toEqual(events.map((e) => e.event_id).sort());
    expect(new Set(stored.map((e) => e.account_id))).toEqual(new Set([a.accountId]));

    const overview = await get(`/api/v1/analytics/funnels/${funnel.id}/overview`, a.headers);
    const report = (await overview.json()) as { visitors: { unique: number }; steps: { visitors: number }[] };
    expect(report.visitors.unique).toBe(1);
    expect(report.steps[0]?.visitors).toBe(1);
  });
});

describe("POST /api/v1/ab-tests", () => {
  it("creates the test with new ids for it and its variants; GET at Location answers it", async () => {
    const funnel = await createFunnel();
    const body = newAbTest(funnel);
    const response = await post("/api/v1/ab-tests", a.headers, body);
    expect(response.status, await response.clone().text()).toBe(201);
    const created = (await response.json()) as AbTestJson;
    expect(response.headers.get("location")).toBe(`/api/v1/ab-tests/${created.id}`);
    expect(created.funnel_id).toBe(funnel.id);
    for (const id of [created.id, ...created.variants.map((v) => v.id)]) expect(id).toMatch(UUID);
    expect(created.variants.map(({ id: _, ...v }) => v)).toEqual(
      body.variants.map((v) => expect.objectContaining(v)),
    );
    const fetched = await get(response.headers.get("location") ?? "", a.headers);
    expect(fetched.status).toBe(200);
    expect(await fetched.json()).toEqual(created);
  });

  it("checks the body as the PUT does: pages of the funnel, one control, splits summing to 100", async () => {
    const funnel = await createFunnel();
    const other = await createFunnel();
    const body = newAbTest(funnel);
    const foreignPage = await post("/api/v1/ab-tests", a.headers, {
      ...body,
      variants: [body.variants[0], { ...body.variants[1], page_id: other.pages[0]?.id }],
    });
    expect(foreignPage.status).toBe(400);
    expect(await fieldsOf(foreignPage)).toEqual(["variants.1.page_id"]);
    const twoControls = await post("/api/v1/ab-tests", a.headers, {
      ...body,
      variants: body.variants.map((v) => ({ ...v, is_control: true, traffic_split: 60 })),
    });
    expect(twoControls.status).toBe(400);
    expect(await fieldsOf(twoControls)).toEqual(["variants", "variants"]);
    const unknownFunnel = await post("/api/v1/ab-tests", a.headers, { ...body, funnel_id: randomUUID() });
    expect(unknownFunnel.status).toBe(404);
  });

  it("creates variants whose pages /track exposes and the A/B report counts", async () => {
    const funnel = await createFunnel();
    const test = (await (await post("/api/v1/ab-tests", a.headers, newAbTest(funnel))).json()) as AbTestJson;
    const control = test.variants.find((v) => v.is_control);
    const tracked = await t.app.request("/api/v1/analytics/track", {
      method: "POST",
      // As a browser sends it.
      headers: { "content-type": "application/json", "user-agent": USER_AGENTS.chromeWindows },
      body: JSON.stringify({
        event_type: "page_view",
        funnel_id: funnel.id,
        page_id: control?.page_id,
        variant_id: control?.id,
        visitor_id: randomUUID(),
        session_id: randomUUID(),
      }),
    });
    expect(tracked.status).toBe(202);
    await pipeline.importEvents(a.headers, []);
    const results = await get(
      `/api/v1/analytics/funnels/${funnel.id}/ab-tests?test_id=${test.id}`,
      a.headers,
    );
    expect(results.status).toBe(200);
    const [result] = (
      (await results.json()) as { tests: { variants: { variant_id: string; visitors: number }[] }[] }
    ).tests;
    expect(result?.variants.map((v) => [v.variant_id, v.visitors])).toEqual(
      test.variants.map((v) => [v.id, v.id === control?.id ? 1 : 0]),
    );
  });
});

describeAuthCases(
  "POST /api/v1/funnels",
  () => t,
  async ({ app, headers }) =>
    app.request("/api/v1/funnels", {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify(newFunnelBody()),
    }),
  {
    // Creating is no access to the owner's data: another account's key creates in its own account.
    crossAccount: async (response, owner) => {
      expect(response.status).toBe(201);
      const created = (await response.json()) as FunnelJson;
      expect((await get(`/api/v1/funnels/${created.id}`, owner.headers)).status).toBe(404);
    },
  },
);

describeAuthCases(
  "POST /api/v1/ab-tests",
  () => t,
  async ({ app, owner, headers }) => {
    const funnel = await createFunnel(owner.headers);
    return app.request("/api/v1/ab-tests", {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify(newAbTest(funnel)),
    });
  },
);

describe("tenant isolation", () => {
  it("account B cannot create a test of account A's funnel", async () => {
    const funnel = await createFunnel(a.headers);
    const response = await post("/api/v1/ab-tests", b.headers, newAbTest(funnel));
    expect(response.status).toBe(404);
    const tests = (await (await get(`/api/v1/ab-tests?funnel_id=${funnel.id}`, a.headers)).json()) as {
      ab_tests: unknown[];
    };
    expect(tests.ab_tests).toEqual([]);
  });
});
