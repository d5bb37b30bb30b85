import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../testing";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t?.close());

interface OpenApiJson {
  openapi: string;
  paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
}

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 document of the catalog routes, generated from their schemas", async () => {
    const response = await t.app.request("/openapi.json");
    expect(response.status).toBe(200);
    const doc = (await response.json()) as OpenApiJson;
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/api/v1/funnels",
        "/api/v1/funnels/{funnel_id}",
        "/api/v1/ab-tests",
        "/api/v1/ab-tests/{test_id}",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/analytics/funnels/{funnel_id}/overview",
        "/api/v1/analytics/funnels/{funnel_id}/steps/{step_id}",
        "/api/v1/analytics/funnels/{funnel_id}/conversions",
        "/api/v1/analytics/funnels/{funnel_id}/dropoffs",
        "/api/v1/analytics/funnels/{funnel_id}/revenue",
        "/api/v1/analytics/funnels/{funnel_id}/ab-tests",
        "/api/v1/analytics/funnels/{funnel_id}/realtime",
      ]),
    );
    for (const schema of [
      "FunnelOverview",
      "StepAnalytics",
      "ConversionMetrics",
      "DropOffAnalysis",
      "RevenueMetrics",
    ]) {
      expect(doc.components.schemas).toHaveProperty(schema);
    }
    expect(Object.keys(doc.paths["/api/v1/funnels/{funnel_id}"] ?? {}).sort()).toEqual([
      "delete",
      "get",
      "put",
    ]);
    expect(doc.components.schemas).toHaveProperty("FunnelInput");
    expect(doc.components.schemas).toHaveProperty("AbTestInput");
  });

  it("declares the bearer scheme, and keyed routes require it", async () => {
    const doc = (await (await t.app.request("/openapi.json")).json()) as OpenApiJson;
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    const put = doc.paths["/api/v1/funnels/{funnel_id}"]?.put;
    expect(put?.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(put?.responses ?? {})).toEqual(expect.arrayContaining(["200", "400", "401", "404"]));
    expect(doc.paths["/healthz"]?.get?.security).toBeUndefined();
  });
});

describe("GET /docs", () => {
  it("serves a browsable reference of /openapi.json without a key", async () => {
    const response = await t.app.request("/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(await response.text()).toContain("/openapi.json");
  });
});
