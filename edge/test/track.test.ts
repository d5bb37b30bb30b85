import { SELF } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type stubApi as StubApi, stubApi } from "./api-stub";
import { FUNNEL, freshIp, pageView, TRACK, track } from "./support";

let api: ReturnType<typeof StubApi>;
beforeEach(() => {
  api = stubApi();
});
afterEach(() => api.restore());

describe("POST /api/v1/analytics/track at the edge", () => {
  it("answers 202 with the accepted count for one event or a batch", async () => {
    const one = await track(pageView(), { ip: freshIp() });
    expect(one.status).toBe(202);
    expect(await one.json()).toEqual({ accepted: 1, rejected: [] });
    const many = await track({ events: [pageView(), pageView()] }, { ip: freshIp() });
    expect(await many.json()).toEqual({ accepted: 2, rejected: [] });
  });

  it("refuses a body that is not JSON with the shared error body", async () => {
    const res = await track(null, { ip: freshIp(), raw: "{nope" });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({
      code: "INVALID",
      message: "request body is not JSON",
      details: [{ field: "body", message: "must be valid JSON" }],
    });
    expect(body.error.request_id).toEqual(expect.any(String));
    expect(res.headers.get("x-request-id")).toBe(body.error.request_id);
  });

  it("refuses a body nested deeper than the API allows, naming the body", async () => {
    let nested: unknown = { event_type: "page_view" };
    for (let i = 0; i < 5_000; i++) nested = { metadata: nested };
    const res = await track(null, { ip: freshIp(), raw: JSON.stringify({ events: [nested] }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { message: "request body nests too deeply", details: [{ field: "body" }] },
    });
  });

  it("refuses an empty, oversized or malformed batch as the API does", async () => {
    const empty = await track({ events: [] }, { ip: freshIp() });
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({
      error: { details: [{ field: "events", message: "must contain at least one event" }] },
    });
    const tooMany = await track({ events: Array.from({ length: 101 }, () => pageView()) }, { ip: freshIp() });
    expect(await tooMany.json()).toMatchObject({
      error: { details: [{ field: "events", message: "must contain at most 100 events" }] },
    });
    const array = await track([pageView()], { ip: freshIp() });
    expect(array.status).toBe(400);
  });

  it("lists each invalid event by index and field, and is 400 only when none is valid", async () => {
    const bad = { ...pageView(), page_id: "nope", visitor_id: undefined };
    const none = await track({ events: [bad] }, { ip: freshIp() });
    expect(none.status).toBe(400);
    const body = (await none.json()) as {
      error: { details: { index: number; errors: { field: string }[] }[] };
    };
    expect(body.error.details[0]?.index).toBe(0);
    expect(body.error.details[0]?.errors.map((e) => e.field).sort()).toEqual(["page_id", "visitor_id"]);

    const mixed = await track({ events: [pageView(), bad] }, { ip: freshIp() });
    expect(mixed.status).toBe(202);
    expect(await mixed.json()).toMatchObject({ accepted: 1, rejected: [{ index: 1 }] });
  });

  it("refuses bodies over 256 KiB with 413", async () => {
    const res = await track(null, { ip: freshIp(), raw: JSON.stringify({ pad: "x".repeat(300 * 1024) }) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: "PAYLOAD_TOO_LARGE" } });
  });

  it("answers CORS preflights and sets CORS headers for browser origins", async () => {
    const preflight = await SELF.fetch(TRACK, {
      method: "OPTIONS",
      headers: {
        origin: "https://shop.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("content-type");
    const post = await SELF.fetch(TRACK, {
      method: "POST",
      headers: { origin: "https://shop.example.com", "cf-connecting-ip": freshIp() },
      body: JSON.stringify(pageView({ funnel_id: FUNNEL })),
    });
    expect(post.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("answers unknown routes with the shared 404 body", async () => {
    const res = await SELF.fetch("http://edge.test/nope");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
  });
});
