import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type stubApi as StubApi, stubApi, waitFor } from "./api-stub";
import { FUNNEL, freshIp, pageView, track } from "./support";

/**
 * An order's `metadata.products` lines at the edge: quantity and price_cents are validated by the
 * shared schema (integers in value_cents' range, quantity at least 1), refused by index and field,
 * and the events beside a refused one are forwarded.
 */

let api: ReturnType<typeof StubApi>;
beforeEach(() => {
  api = stubApi();
});
afterEach(() => api.restore());

/** A purchase whose second line has `field` set to `value`, as raw JSON text (1e400 as sent). */
function order(field: string, value: string): string {
  const good = { product_id: "sku-1", product_name: "Mug", quantity: 2, price_cents: 900 };
  const event = {
    event_type: "conversion",
    conversion_type: "purchase",
    funnel_id: FUNNEL,
    session_id: "s-1",
    visitor_id: crypto.randomUUID(),
    event_id: crypto.randomUUID(),
    value_cents: 1_800,
    metadata: { products: [good, { ...good, product_id: "sku-2", [field]: "<value>" }] },
  };
  return JSON.stringify(event).replace('"<value>"', value);
}

const QUANTITY = "must be an integer from 1 to 2147483647";
const PRICE = "must be an integer from 0 to 2147483647";

describe("metadata.products at the edge's /track", () => {
  it.each([
    ["quantity", "1e308", QUANTITY],
    ["quantity", "1e400", QUANTITY],
    ["quantity", "-1", QUANTITY],
    ["quantity", "0", QUANTITY],
    ["quantity", "1.5", QUANTITY],
    ["price_cents", "1e308", PRICE],
    ["price_cents", "-100", PRICE],
    ["price_cents", "2147483648", PRICE],
  ])("%s %s alone: a 400 naming the line and the field", async (field, value, message) => {
    const res = await track(null, { ip: freshIp(), raw: order(field, value) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: {
        code: "INVALID",
        details: [{ index: 0, errors: [{ field: `metadata.products.1.${field}`, message }] }],
      },
    });
  });

  it("a bad line refuses its order by index; the events beside it are forwarded", async () => {
    const views = [pageView(), pageView()];
    const raw = `{"events":[${JSON.stringify(views[0])},${order("price_cents", "-100")},${JSON.stringify(views[1])}]}`;
    const res = await track(null, { ip: freshIp(), raw });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      accepted: 2,
      rejected: [{ index: 1, errors: [{ field: "metadata.products.1.price_cents", message: PRICE }] }],
    });
    const events = await waitFor(api.events, (e) => e.length >= 2);
    expect(events.map((e) => e.event_id)).toEqual(views.map((v) => v.event_id));
  });

  it("an order whose lines are in range is forwarded with its metadata unchanged", async () => {
    const raw = order("quantity", "2147483647");
    const sent = JSON.parse(raw) as { event_id: string; metadata: unknown };
    const res = await track(null, { ip: freshIp(), raw });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 1, rejected: [] });
    const events = await waitFor(api.events, (e) => e.some((x) => x.event_id === sent.event_id));
    expect(events.find((x) => x.event_id === sent.event_id)?.metadata).toEqual(sent.metadata);
  });
});
