import { demoSpringSale } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  putFunnelRequest,
  type TestApp,
} from "../testing";
import { demoTryLines } from "./try-calls";

let t: TestApp;
let a: AccountWithKey;

beforeAll(async () => {
  t = await createTestApp();
  a = await createAccountWithKey(t.deps.database);
  const { id, name, steps, pages } = demoSpringSale.funnel;
  const funnel = { name, steps: steps.map(({ page_id: _, ...step }) => step), pages };
  expect((await putFunnelRequest(t.app, a.headers, id, funnel)).status).toBe(200);
});
afterAll(() => t?.close());

describe("the calls printed at the demo's start", () => {
  it("work as printed, and one of them is a report", async () => {
    const lines = demoTryLines(a.key, "http://localhost:3000");
    const calls = lines.flatMap((line) => {
      const call = /^\s*curl -H "Authorization: (Bearer [^"]+)" (\S+)$/.exec(line);
      return call ? [{ authorization: call[1] ?? "", url: new URL(call[2] ?? "") }] : [];
    });
    expect(calls.map((c) => c.url.pathname)).toContain(
      `/api/v1/analytics/funnels/${demoSpringSale.funnel.id}/overview`,
    );
    for (const { authorization, url } of calls) {
      expect(authorization).toBe(`Bearer ${a.key}`);
      const response = await t.app.request(`${url.pathname}${url.search}`, { headers: { authorization } });
      expect(response.status, url.pathname).toBe(200);
    }
  });
});
