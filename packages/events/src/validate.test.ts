import { describe, expect, it } from "vitest";
import { LIMITS } from "./schema";
import { RETENTION_DAYS, resolveEventTime, splitBody, validateEvents } from "./validate";

const receivedAt = new Date("2026-06-01T12:00:00.000Z");
let ids = 0;
const options = {
  context: { receivedAt, ip: "198.51.100.7", userAgent: "UA-from-header" },
  fromBrowser: true,
  newId: () => `00000000-0000-4000-8000-${String(++ids).padStart(12, "0")}`,
};
const pageView = {
  event_type: "page_view",
  funnel_id: "5a1e0000-0000-4000-8000-000000000001",
  page_id: "5a1e0000-0000-4000-8000-0000000000b1",
  session_id: "s-1",
  visitor_id: "7b1e0000-0000-4000-8000-000000000001",
  url: "https://shop.example.com/spring?utm_source=x",
};

describe("splitBody", () => {
  it("takes one event or a batch", () => {
    expect(splitBody(pageView, 100)).toEqual({ ok: true, events: [pageView] });
    expect(splitBody({ events: [pageView, pageView] }, 100)).toEqual({
      ok: true,
      events: [pageView, pageView],
    });
  });

  it("names the field when the body is not an event or a batch", () => {
    expect(splitBody([pageView], 100)).toMatchObject({ ok: false, errors: [{ field: "body" }] });
    expect(splitBody({ events: {} }, 100)).toMatchObject({ ok: false, errors: [{ field: "events" }] });
    expect(splitBody({ events: [] }, 100)).toMatchObject({ ok: false, errors: [{ field: "events" }] });
    const tooMany = { events: Array.from({ length: 101 }, () => pageView) };
    expect(splitBody(tooMany, 100)).toMatchObject({
      ok: false,
      errors: [{ field: "events", message: /at most 100/ }],
    });
  });
});

describe("validateEvents", () => {
  it("accepts valid events and rejects each bad one by index and field", () => {
    const { accepted, rejected } = validateEvents(
      [
        pageView,
        { ...pageView, visitor_id: "not-a-uuid" },
        { ...pageView, event_type: "step_exit", funnel_step_id: pageView.page_id },
        { ...pageView, event_type: "teleport" },
      ],
      options,
    );
    expect(accepted).toHaveLength(1);
    expect(rejected.map((r) => r.index)).toEqual([1, 2, 3]);
    expect(rejected[0]?.errors).toEqual([{ field: "visitor_id", message: "must be a UUID" }]);
    expect(rejected[1]?.errors.map((e) => e.field)).toEqual(["exit_outcome"]);
    expect(rejected[2]?.errors.map((e) => e.field)).toEqual(["event_type"]);
  });

  it("fixes id and time at accept time, and takes UA and IP from the request", () => {
    const [event] = validateEvents([{ ...pageView, ip_address: "1.2.3.4" }], options).accepted;
    expect(event?.event_id).toMatch(/^00000000-0000-4000-8000-/);
    expect(event?.occurred_at).toBe(receivedAt.toISOString());
    expect(event?.user_agent).toBe("UA-from-header");
    // A browser cannot choose its IP: the body's ip_address is ignored on /track.
    expect(event?.ip_address).toBe("198.51.100.7");
    const [trusted] = validateEvents([{ ...pageView, ip_address: "1.2.3.4" }], {
      ...options,
      fromBrowser: false,
    }).accepted;
    expect(trusted?.ip_address).toBe("1.2.3.4");
  });

  it("keeps a client event_id so retries dedupe", () => {
    const eventId = "9e9e0000-0000-4000-8000-000000000009";
    const [event] = validateEvents([{ ...pageView, event_id: eventId }], options).accepted;
    expect(event?.event_id).toBe(eventId);
  });

  it("refuses metadata over the size limit and events older than retention", () => {
    const big = { blob: "x".repeat(LIMITS.metadataBytes) };
    const old = new Date(receivedAt.getTime() - (RETENTION_DAYS + 1) * 86_400_000).toISOString();
    const { rejected } = validateEvents(
      [
        { ...pageView, metadata: big },
        { ...pageView, timestamp: old },
      ],
      options,
    );
    expect(rejected.map((r) => r.errors[0]?.field)).toEqual(["metadata", "timestamp"]);
  });

  it("maps per-type fields and nulls the rest", () => {
    const [refund] = validateEvents(
      [{ ...pageView, event_type: "refund", order_id: "ord_1", value_cents: 4900, page_id: undefined }],
      { ...options, fromBrowser: false },
    ).accepted;
    expect(refund).toMatchObject({
      event_type: "refund",
      order_id: "ord_1",
      value_cents: 4900,
      exit_outcome: null,
    });
  });

  it("refuses a refund from a browser by index, naming event_type, and takes the events beside it", () => {
    const refund = {
      ...pageView,
      event_type: "refund",
      order_id: "ord_1",
      value_cents: 4900,
      page_id: undefined,
    };
    const { accepted, rejected } = validateEvents(
      [pageView, refund, { ...pageView, funnel_id: "x" }, pageView],
      options,
    );
    expect(accepted).toHaveLength(2);
    expect(rejected.map((r) => [r.index, r.errors.map((e) => e.field)])).toEqual([
      [1, ["event_type"]],
      [2, ["funnel_id"]],
    ]);
  });
});

describe("resolveEventTime", () => {
  it("uses the client's timestamp unless it is more than 5 minutes ahead", () => {
    const early = "2026-06-01T11:00:00.000Z";
    expect(resolveEventTime(early, receivedAt).toISOString()).toBe(early);
    const slightlyAhead = "2026-06-01T12:04:59.000Z";
    expect(resolveEventTime(slightlyAhead, receivedAt).toISOString()).toBe(slightlyAhead);
    expect(resolveEventTime("2026-06-01T12:05:01.000Z", receivedAt)).toEqual(receivedAt);
    expect(resolveEventTime(undefined, receivedAt)).toEqual(receivedAt);
  });
});

describe("metadata.products", () => {
  const order = (products: unknown) => ({
    ...pageView,
    event_type: "conversion",
    conversion_type: "purchase",
    value_cents: 4_900,
    page_id: undefined,
    metadata: { order_id: "ord_1", products },
  });
  const line = (fields: Record<string, unknown>) => ({ product_id: "sku-1", product_name: "Mug", ...fields });
  const QUANTITY = "must be an integer from 1 to 2147483647";
  const PRICE = "must be an integer from 0 to 2147483647";

  it.each([
    ["quantity", 1e308, QUANTITY],
    ["quantity", Number.POSITIVE_INFINITY, QUANTITY],
    ["quantity", 0, QUANTITY],
    ["quantity", -1, QUANTITY],
    ["quantity", 1.5, QUANTITY],
    ["quantity", 2_147_483_648, QUANTITY],
    ["quantity", "2", QUANTITY],
    ["price_cents", 1e308, PRICE],
    ["price_cents", -1, PRICE],
    ["price_cents", 0.5, PRICE],
    ["price_cents", 2_147_483_648, PRICE],
    ["price_cents", null, PRICE],
  ])("refuses %s %j, naming the line and the field", (field, value, message) => {
    const { accepted, rejected } = validateEvents(
      [
        pageView,
        order([
          line({ quantity: 1, price_cents: 900 }),
          line({ quantity: 1, price_cents: 900, [field]: value }),
        ]),
        pageView,
      ],
      options,
    );
    expect(accepted.map((e) => e.event_type)).toEqual(["page_view", "page_view"]);
    expect(rejected.map((r) => [r.index, r.errors])).toEqual([
      [1, [{ field: `metadata.products.1.${field}`, message }]],
    ]);
  });

  it("names each bad field of each line", () => {
    const [rejected] = validateEvents(
      [order([line({ quantity: -2, price_cents: 1e308 }), line({ quantity: 3, price_cents: -5 })])],
      options,
    ).rejected;
    expect(rejected?.errors).toEqual([
      { field: "metadata.products.0.quantity", message: QUANTITY },
      { field: "metadata.products.0.price_cents", message: PRICE },
      { field: "metadata.products.1.price_cents", message: PRICE },
    ]);
  });

  it("accepts the range's ends, a free line (price 0) and lines that leave quantity or price out", () => {
    const products = [
      line({ quantity: 1, price_cents: 0 }),
      line({ quantity: 2_147_483_647, price_cents: 2_147_483_647 }),
      line({ quantity: 1 }),
      line({ price_cents: 100 }),
    ];
    const { accepted, rejected } = validateEvents([order(products)], options);
    expect(rejected).toEqual([]);
    expect(accepted[0]?.metadata).toEqual({ order_id: "ord_1", products });
  });
});
