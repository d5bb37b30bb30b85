import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  describeAuthCases,
  funnelBody,
  putFunnelRequest,
  seedAbTest,
  seedFunnel,
  type TestApp,
} from "../testing";

let t: TestApp;
let a: AccountWithKey;
let b: AccountWithKey;

beforeAll(async () => {
  t = await createTestApp();
  a = await createAccountWithKey(t.deps.database);
  b = await createAccountWithKey(t.deps.database);
});
afterAll(() => t?.close());

interface FunnelJson {
  id: string;
  name: string;
  steps: { id: string; name: string; step_type: string; position: number }[];
  pages: { id: string; name: string; url: string | null }[];
}
interface ErrorJson {
  error: {
    code: string;
    message: string;
    details?: { field: string; message: string }[];
    request_id: string;
  };
}

const get = (path: string, headers: Record<string, string>) => t.app.request(path, { headers });
const del = (path: string, headers: Record<string, string>) =>
  t.app.request(path, { method: "DELETE", headers });
const fieldsOf = async (response: Response) =>
  ((await response.json()) as ErrorJson).error.details?.map((d) => d.field) ?? [];

describe("PUT /api/v1/funnels/{funnel_id}", () => {
  it("stores the funnel and answers it with its steps in position order", async () => {
    const funnelId = randomUUID();
    const body = funnelBody();
    const shuffled = { ...body, steps: [...body.steps].reverse() };
    const response = await putFunnelRequest(t.app, a.headers, funnelId, shuffled);
    expect(response.status).toBe(200);
    const stored = (await response.json()) as FunnelJson;
    expect(stored).toMatchObject({ id: funnelId, name: body.name, steps: body.steps });
    expect(stored.pages).toHaveLength(2);

    const fetched = await get(`/api/v1/funnels/${funnelId}`, a.headers);
    expect(fetched.status).toBe(200);
    expect(await fetched.json()).toEqual(stored);
  });

  it("is idempotent: the same PUT twice stores one funnel", async () => {
    const funnelId = randomUUID();
    const body = funnelBody();
    const first = (await (await putFunnelRequest(t.app, a.headers, funnelId, body)).json()) as FunnelJson;
    const second = await putFunnelRequest(t.app, a.headers, funnelId, body);
    expect(second.status).toBe(200);
    const again = (await second.json()) as FunnelJson;
    expect({ ...again, updated_at: undefined }).toEqual({ ...first, updated_at: undefined });
  });

  it("replaces the step set: steps no longer listed are removed, listed ones updated", async () => {
    const { funnelId, body } = await seedFunnel(t.app, a.headers);
    const [first, second] = body.steps;
    const added = { id: randomUUID(), name: "Thank you", step_type: "thankyou", position: 2 };
    const next = {
      ...body,
      name: "Spring Sale v2",
      steps: [{ ...second!, name: "Offer", position: 1 }, added],
    };
    const response = await putFunnelRequest(t.app, a.headers, funnelId, next);
    expect(response.status).toBe(200);
    const stored = (await response.json()) as FunnelJson;
    expect(stored.name).toBe("Spring Sale v2");
    expect(stored.steps).toEqual([{ ...second!, name: "Offer", position: 1 }, added]);
    expect(stored.steps.map((s) => s.id)).not.toContain(first!.id);
  });

  it("keeps the pages when `pages` is left out and removes them for `pages: []`", async () => {
    const { funnelId, body } = await seedFunnel(t.app, a.headers);
    const { pages: _, ...withoutPages } = body;
    const kept = (await (
      await putFunnelRequest(t.app, a.headers, funnelId, withoutPages)
    ).json()) as FunnelJson;
    expect(kept.pages.map((p) => p.id).sort()).toEqual(body.pages!.map((p) => p.id).sort());

    const cleared = (await (
      await putFunnelRequest(t.app, a.headers, funnelId, { ...body, pages: [] })
    ).json()) as FunnelJson;
    expect(cleared.pages).toEqual([]);
  });

  it("names each invalid field", async () => {
    const body = funnelBody();
    const response = await putFunnelRequest(t.app, a.headers, randomUUID(), {
      steps: [body.steps[0], { ...body.steps[1], step_type: undefined, position: 1.5 }],
      pages: [{ id: "not-a-uuid", name: "x", url: null }],
    });
    expect(response.status).toBe(400);
    const json = (await response.json()) as ErrorJson;
    expect(json.error.code).toBe("INVALID");
    expect(json.error.request_id).not.toBe("");
    expect(json.error.details?.map((d) => d.field)).toEqual(
      expect.arrayContaining(["name", "steps.1.step_type", "steps.1.position", "pages.0.id"]),
    );
  });

  it("refuses a funnel without steps and a funnel id that is not a UUID", async () => {
    const noSteps = await putFunnelRequest(t.app, a.headers, randomUUID(), funnelBody({ steps: [] }));
    expect(noSteps.status).toBe(400);
    expect(await fieldsOf(noSteps)).toEqual(["steps"]);

    const badId = await putFunnelRequest(t.app, a.headers, "funnel-1", funnelBody());
    expect(badId.status).toBe(400);
    expect(await fieldsOf(badId)).toEqual(["funnel_id"]);
  });

  it("refuses repeated step ids, positions and page ids", async () => {
    const body = funnelBody();
    const [one, two] = body.steps;
    const [pageOne] = body.pages!;
    const response = await putFunnelRequest(t.app, a.headers, randomUUID(), {
      ...body,
      steps: [one, { ...two!, id: one!.id, position: one!.position }],
      pages: [pageOne, pageOne],
    });
    expect(response.status).toBe(400);
    expect((await fieldsOf(response)).sort()).toEqual(["pages.1.id", "steps.1.id", "steps.1.position"]);
  });

  it("refuses step and page ids that another funnel uses, changing nothing", async () => {
    const existing = await seedFunnel(t.app, a.headers);
    const funnelId = randomUUID();
    const body = funnelBody();
    const takenStep = await putFunnelRequest(t.app, a.headers, funnelId, {
      ...body,
      steps: [body.steps[0], { ...body.steps[1]!, id: existing.body.steps[0]!.id }],
    });
    expect(takenStep.status).toBe(400);
    expect(await fieldsOf(takenStep)).toEqual(["steps.1.id"]);
    // Rolled back: the new funnel was not stored either.
    expect((await get(`/api/v1/funnels/${funnelId}`, a.headers)).status).toBe(404);

    const takenPage = await putFunnelRequest(t.app, a.headers, funnelId, {
      ...body,
      pages: [existing.body.pages![0]!],
    });
    expect(takenPage.status).toBe(400);
    expect(await fieldsOf(takenPage)).toEqual(["pages.0.id"]);
    const original = (await (
      await get(`/api/v1/funnels/${existing.funnelId}`, a.headers)
    ).json()) as FunnelJson;
    expect(original.steps).toEqual(existing.body.steps);
    expect(original.pages).toHaveLength(2);
  });

  it("answers a malformed JSON body with 400", async () => {
    const response = await t.app.request(`/api/v1/funnels/${randomUUID()}`, {
      method: "PUT",
      headers: { ...a.headers, "content-type": "application/json" },
      body: "{ not json",
    });
    expect(response.status).toBe(400);
  });
});

describe("GET /api/v1/funnels", () => {
  it("lists only the account's own funnels, with their steps", async () => {
    const owner = await createAccountWithKey(t.deps.database);
    const first = await seedFunnel(t.app, owner.headers, { name: "First" });
    const second = await seedFunnel(t.app, owner.headers, { name: "Second" });
    await seedFunnel(t.app, b.headers, { name: "Not mine" });

    const response = await get("/api/v1/funnels", owner.headers);
    expect(response.status).toBe(200);
    const { funnels } = (await response.json()) as { funnels: FunnelJson[] };
    expect(funnels.map((f) => f.id)).toEqual([first.funnelId, second.funnelId]);
    expect(funnels[0]?.steps).toEqual(first.body.steps);
  });

  it("is empty for an account without funnels", async () => {
    const empty = await createAccountWithKey(t.deps.database);
    expect(await (await get("/api/v1/funnels", empty.headers)).json()).toEqual({ funnels: [] });
  });
});

describe("DELETE /api/v1/funnels/{funnel_id}", () => {
  it("deletes the funnel with its tests; a second delete is 404", async () => {
    const { funnelId, testId } = await seedAbTest(t.app, a.headers);
    const response = await del(`/api/v1/funnels/${funnelId}`, a.headers);
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    expect((await get(`/api/v1/funnels/${funnelId}`, a.headers)).status).toBe(404);
    expect((await get(`/api/v1/ab-tests/${testId}`, a.headers)).status).toBe(404);
    expect((await del(`/api/v1/funnels/${funnelId}`, a.headers)).status).toBe(404);
  });
});

describe("tenant isolation", () => {
  it("account B can neither read, overwrite nor delete account A's funnel", async () => {
    const { funnelId, body } = await seedFunnel(t.app, a.headers);

    const read = await get(`/api/v1/funnels/${funnelId}`, b.headers);
    expect(read.status).toBe(404);
    expect(await read.text()).not.toContain(body.name);

    const overwrite = await putFunnelRequest(t.app, b.headers, funnelId, funnelBody({ name: "Hijacked" }));
    expect(overwrite.status).toBe(404);
    expect((await del(`/api/v1/funnels/${funnelId}`, b.headers)).status).toBe(404);

    const after = (await (await get(`/api/v1/funnels/${funnelId}`, a.headers)).json()) as FunnelJson;
    expect(after.name).toBe(body.name);
    expect(after.steps).toEqual(body.steps);
    const listed = (await (await get("/api/v1/funnels", b.headers)).json()) as { funnels: FunnelJson[] };
    expect(listed.funnels.map((f) => f.id)).not.toContain(funnelId);
  });

  it("account B cannot take over account A's step ids", async () => {
    const { funnelId, body } = await seedFunnel(t.app, a.headers);
    const stolen = funnelBody({ steps: [{ ...body.steps[0]!, name: "Hijacked" }] });
    const response = await putFunnelRequest(t.app, b.headers, randomUUID(), stolen);
    expect(response.status).toBe(400);
    const after = (await (await get(`/api/v1/funnels/${funnelId}`, a.headers)).json()) as FunnelJson;
    expect(after.steps[0]?.name).toBe(body.steps[0]?.name);
  });
});

describeAuthCases(
  "PUT /api/v1/funnels/{funnel_id}",
  () => t,
  async ({ app, owner, headers }) => {
    const { funnelId, body } = await seedFunnel(app, owner.headers);
    return putFunnelRequest(app, headers, funnelId, body);
  },
);

describeAuthCases(
  "GET /api/v1/funnels/{funnel_id}",
  () => t,
  async ({ app, owner, headers }) => {
    const { funnelId } = await seedFunnel(app, owner.headers);
    return app.request(`/api/v1/funnels/${funnelId}`, { headers });
  },
);

describeAuthCases(
  "DELETE /api/v1/funnels/{funnel_id}",
  () => t,
  async ({ app, owner, headers }) => {
    const { funnelId } = await seedFunnel(app, owner.headers);
    return app.request(`/api/v1/funnels/${funnelId}`, { method: "DELETE", headers });
  },
);

describeAuthCases(
  "GET /api/v1/funnels",
  () => t,
  async ({ app, owner, headers }) => {
    await seedFunnel(app, owner.headers, { name: "Owner's funnel" });
    return app.request("/api/v1/funnels", { headers });
  },
  {
    crossAccount: async (response) => {
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ funnels: [] });
    },
  },
);
