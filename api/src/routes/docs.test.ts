import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../testing";
import { REFERENCE_BUNDLE_PATH } from "./docs";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t?.close());

interface OpenApiJson {
  openapi: string;
  servers: { url: string; description?: string }[];
  paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
}

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 document of the catalog routes, generated from their schemas", async () => {
    const response = await t.app.request("/openapi.json");
    expect(response.status).toBe(200);
    const doc = (await response.json()) as OpenApiJson;
    expect(doc.openapi).toBe("3.1.0");
    // Relative to wherever the document was read from, so examples name the host the reader used.
    expect(doc.servers).toEqual([{ url: "/", description: "This API" }]);
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

  it("loads the reference from the API itself, never from another origin", async () => {
    const html = await (await t.app.request("/docs")).text();
    const sources = [...html.matchAll(/<script[^>]*\ssrc="([^"]*)"/g)].map((m) => m[1]);
    expect(sources).toEqual([REFERENCE_BUNDLE_PATH]);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/\bimport\s*\{/);
  });

  it("turns off Scalar's fonts, telemetry, hosted client, AI chat and developer tools", async () => {
    const html = await (await t.app.request("/docs")).text();
    const config = html.match(/createApiReference\('#app', (\{[\s\S]*?\n\s*\})\)/)?.[1];
    expect(JSON.parse(config ?? "null")).toMatchObject({
      url: "/openapi.json",
      withDefaultFonts: false,
      telemetry: false,
      hideClientButton: true,
      showDeveloperTools: "never",
      agent: { disabled: true },
      mcp: { disabled: true },
    });
  });
});

describe("GET the reference bundle", () => {
  const installed = () =>
    readFile(new URL("./browser/standalone.js", import.meta.resolve("@scalar/api-reference")));

  it("is the installed, pinned @scalar/api-reference, kept a year by browsers", async () => {
    const { version } = JSON.parse(
      await readFile(new URL("../package.json", import.meta.resolve("@scalar/api-reference")), "utf8"),
    ) as { version: string };
    expect(REFERENCE_BUNDLE_PATH).toBe(`/docs/assets/api-reference-${version}.js`);
    const response = await t.app.request(REFERENCE_BUNDLE_PATH);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(response.headers.get("content-encoding")).toBeNull();
    expect(Buffer.from(await response.arrayBuffer()).equals(await installed())).toBe(true);
  });

  it("is sent gzipped to a client that accepts it", async () => {
    const response = await t.app.request(REFERENCE_BUNDLE_PATH, {
      headers: { "accept-encoding": "gzip, deflate, br" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-encoding")).toBe("gzip");
    expect(response.headers.get("vary")).toBe("accept-encoding");
    const body = Buffer.from(await response.arrayBuffer());
    expect(gunzipSync(body).equals(await installed())).toBe(true);
  });

  it("is served at its version's path only", async () => {
    expect((await t.app.request("/docs/assets/api-reference-0.0.0.js")).status).toBe(404);
  });
});
