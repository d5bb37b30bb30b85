import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createIngestTestContext,
  type IngestTestContext,
  pageView,
  rejectedRows,
  type SeededAccount,
  seedAccount,
  storedEvents,
} from "../ingest/testing";

/**
 * An order's `metadata.products` lines: quantity and price_cents are integers in value_cents' range
 * (quantity at least 1), refused by index and field on /track and /import like value_cents. A
 * quantity of 1e308 or a negative price used to be stored, and the revenue report answered
 * `revenue_cents: null` or negative revenue, and XLSX exports held `Infinity`.
 */

let ctx: IngestTestContext;
let account: SeededAccount;
let ipCounter = 0;
const freshIp = () => `198.51.200.${(++ipCounter % 250) + 1}`;

beforeAll(async () => {
  ctx = await createIngestTestContext({
    config: { CLIENT_IP_HEADER: "x-forwarded-for", TRUSTED_PROXY_HOPS: "1" },
  });
  ctx.startWorker();
  account = await seedAccount(ctx.deps);
});

afterAll(async () => {
  await ctx?.close();
});

const QUANTITY = "must be an integer from 1 to 2147483647";
const PRICE = "must be an integer from 0 to 2147483647";

/** A purchase of one good line and one with `field` set to `value`, a raw JSON text (1e400 as sent). */
function order(funnelId: string, session: string, field: string, value: string): string {
  const good = { product_id: "sku-1", product_name: "Mug", quantity: 2, price_cents: 900 };
  const event = {
    event_type: "conversion",
    conversion_type: "purchase",
    funnel_id: funnelId,
    session_id: session,
    visitor_id: randomUUID(),
    value_cents: 1_800,
    order_id: `ord-${randomUUID()}`,
    metadata: { products: [good, { ...good, product_id: "sku-2", [field]: "<value>" }] },
  };
  return JSON.stringify(event).replace('"<value>"', value);
}

// Raw JSON text for each value: 1e400 is how a client sends a figure too large for a double.
const BAD: [field: string, value: string, message: string][] = [
  ["quantity", "1e308", QUANTITY],
  ["quantity", "1e400", QUANTITY],
  ["quantity", "0", QUANTITY],
  ["quantity", "-3", QUANTITY],
  ["quantity", "2.5", QUANTITY],
  ["quantity", "2147483648", QUANTITY],
  ["quantity", '"2"', QUANTITY],
  ["price_cents", "1e308", PRICE],
  ["price_cents", "-100", PRICE],
  ["price_cents", "9.99", PRICE],
  ["price_cents", "2147483648", PRICE],
  ["price_cents", "null", PRICE],
];

const routes = {
  track: (body: string, _to?: SeededAccount) =>
    ctx.app.request("/api/v1/analytics/track", {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": freshIp() },
      body,
    }),
  import: (body: string, to: SeededAccount = account) =>
    ctx.app.request("/api/v1/analytics/import", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${to.apiKey}` },
      body,
    }),
};

describe.each(Object.entries(routes))("metadata.products on /%s", (source, send) => {
  it.each(BAD)(
    "%s %s: a 400 naming the line and the field when it is the only event",
    async (field, value, message) => {
      const res = await send(order(account.funnelId, `s-${randomUUID()}`, field, value));
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({
        error: {
          code: "INVALID",
          details: [{ index: 0, errors: [{ field: `metadata.products.1.${field}`, message }] }],
        },
      });
    },
  );

  it("refuses the bad order by index and stores the events beside it; the refusal is kept for operators", async () => {
    const owner = await seedAccount(ctx.deps);
    const { funnelId } = owner;
    const marker = `s-${randomUUID()}`;
    const views = [pageView(funnelId), pageView(funnelId)];
    const body = `{"events":[${JSON.stringify(views[0])},${order(funnelId, marker, "quantity", "1e308")},${JSON.stringify(views[1])}]}`;
    const res = await send(body, owner);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      accepted: 2,
      rejected: [{ index: 1, errors: [{ field: "metadata.products.1.quantity", message: QUANTITY }] }],
      not_counted: [],
    });
    await ctx.drained();
    const stored = await storedEvents(ctx.deps, funnelId);
    expect(stored.map((e) => e.eventType)).toEqual(["page_view", "page_view"]);
    const kept = (await rejectedRows(ctx.deps)).filter(
      (r) => (r.payload as { session_id?: string }).session_id === marker,
    );
    expect(kept.map((r) => [r.reason, r.source, r.errors])).toEqual([
      ["invalid", source, [{ field: "metadata.products.1.quantity", message: QUANTITY }]],
    ]);
  });

  it("stores an order whose lines are in range, and leaves other metadata alone", async () => {
    const owner = await seedAccount(ctx.deps);
    const { funnelId } = owner;
    const products = [
      { product_id: "sku-1", product_name: "Mug", quantity: 2_147_483_647, price_cents: 0 },
      { product_id: "sku-2", quantity: 1, price_cents: 2_147_483_647 },
      "a note, not a line",
    ];
    const event = {
      event_type: "conversion",
      conversion_type: "purchase",
      funnel_id: funnelId,
      session_id: `s-${randomUUID()}`,
      visitor_id: randomUUID(),
      value_cents: 2_147_483_647,
      metadata: { products },
    };
    const res = await send(JSON.stringify(event), owner);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 1, rejected: [], not_counted: [] });
    await ctx.drained();
    const [row] = await storedEvents(ctx.deps, funnelId);
    expect(row?.metadata).toEqual({ products });
  });
});

describe("GET /openapi.json", () => {
  it("documents the lines' ranges under metadata.products", async () => {
    const doc = JSON.stringify(await (await ctx.app.request("/openapi.json")).json());
    // Each field's schema, whatever description and example the document gives it.
    const field = (name: string) =>
      new RegExp(`"${name}":\\{[^{}]*?"type":"integer","minimum":(\\d+),"maximum":(\\d+)`);
    expect(doc).toMatch(/"products":\{[^{}]*"type":"array"/);
    expect(doc.match(field("quantity"))?.slice(1)).toEqual(["1", "2147483647"]);
    expect(doc.match(field("price_cents"))?.slice(1)).toEqual(["0", "2147483647"]);
  });
});
