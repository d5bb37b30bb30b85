import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type stubApi as StubApi, stubApi, waitFor } from "./api-stub";
import { FUNNEL, freshIp, pageView, track } from "./support";

/** Refunds come from the merchant's server (the API's keyed /import), never from a browser. */

let api: ReturnType<typeof StubApi>;
beforeEach(() => {
  api = stubApi();
});
afterEach(() => api.restore());

const refund = (overrides: Record<string, unknown> = {}) => ({
  event_type: "refund",
  funnel_id: FUNNEL,
  session_id: "s-1",
  visitor_id: crypto.randomUUID(),
  event_id: crypto.randomUUID(),
  order_id: "order-that-does-not-exist",
  value_cents: 2_147_483_647,
  ...overrides,
});

const refused = { field: "event_type", message: expect.stringContaining("/api/v1/analytics/import") };

describe("a refund at the edge's /track", () => {
  it("is refused by index, naming event_type, and the events beside it are forwarded", async () => {
    const forged = refund();
    const views = [pageView(), pageView()];
    const res = await track({ events: [views[0], forged, views[1]] }, { ip: freshIp() });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 2, rejected: [{ index: 1, errors: [refused] }] });
    const events = await waitFor(api.events, (e) => e.length >= 2);
    expect(events.map((e) => e.event_type)).toEqual(["page_view", "page_view"]);
    // The refusal travels on for operators, the refund itself is never forwarded as an event.
    const withRefusal = await waitFor(
      () => api.batches.find((b) => b.rejected.length > 0),
      (b) => b !== undefined,
    );
    expect(withRefusal?.rejected).toEqual([
      expect.objectContaining({ index: 1, errors: [refused], raw: expect.objectContaining(forged) }),
    ]);
  });

  it("is a 400 naming event_type when it is all the request holds", async () => {
    const res = await track(refund(), { ip: freshIp() });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { code: "INVALID", details: [{ index: 0, errors: [refused] }] },
    });
  });
});
