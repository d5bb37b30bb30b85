import { OpenAPIHono } from "@hono/zod-openapi";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppEnv } from "../deps";
import { httpMetrics } from "../http/metrics";
import type { IngestQueue } from "../ports";
import { createTestApp, type TestApp } from "../testing";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t?.close());

const scrape = async (app: TestApp["app"]) => {
  const response = await app.request("/metrics");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  return response.text();
};

describe("GET /metrics", () => {
  it("exposes process metrics and the ingest queue's depth and durability", async () => {
    const text = await scrape(t.app);
    expect(text).toContain("process_cpu_user_seconds_total");
    expect(text).toContain("nodejs_eventloop_lag_seconds");
    expect(text).toMatch(/^funnel_ingest_queue_depth 0$/m);
    // The test deps run the in-process queue, which does not survive a restart.
    expect(text).toMatch(/^funnel_ingest_queue_durable 0$/m);
  });

  it("counts requests by route pattern and status", async () => {
    await t.app.request("/healthz");
    await t.app.request(`/api/v1/funnels/${crypto.randomUUID()}`);
    const text = await scrape(t.app);
    expect(text).toMatch(/^http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+$/m);
    expect(text).toContain('route="/api/v1/funnels/:funnel_id",status="401"');
    expect(text).toContain("http_request_duration_seconds_bucket");
  });

  it("still answers when the queue cannot tell its depth", async () => {
    const broken: IngestQueue = {
      enqueue: async () => {},
      depth: () => Promise.reject(new Error("redis down")),
      health: () => Promise.reject(new Error("redis down")),
      close: async () => {},
    };
    const other = await createTestApp({ database: t.deps.database, queue: broken });
    try {
      const text = await scrape(other.app);
      expect(text).toMatch(/^funnel_ingest_queue_depth nan$/im);
      expect(text).toMatch(/^funnel_ingest_queue_durable 0$/m);
    } finally {
      await other.close();
    }
  });
});

describe("httpMetrics", () => {
  it("labels by route pattern, never by raw path, and unmatched requests as one route", async () => {
    const registry = new Registry();
    const app = new OpenAPIHono<AppEnv>();
    app.use(httpMetrics(registry));
    app.get("/things/:id", (c) => c.json({ id: c.req.param("id") }));
    // Ids no number in the exposition (a duration's digits) can contain by chance.
    await app.request("/things/id-a");
    await app.request("/things/id-b");
    await app.request("/nowhere/raw-c");
    const text = await registry.metrics();
    expect(text).toContain('http_requests_total{method="GET",route="/things/:id",status="200"} 2');
    expect(text).toContain('http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(text).not.toContain("id-a");
    expect(text).not.toContain("raw-c");
  });

  it("can be installed twice on one registry", () => {
    const registry = new Registry();
    expect(() => {
      httpMetrics(registry);
      httpMetrics(registry);
    }).not.toThrow();
  });
});

describe("GET /metrics with METRICS_TOKEN", () => {
  const token = "scraper-token-0123456789";
  let guarded: TestApp;
  beforeAll(async () => {
    guarded = await createTestApp({ config: { METRICS_TOKEN: token } });
  });
  afterAll(() => guarded?.close());

  it.each([
    ["no header", {}],
    ["another token", { authorization: "Bearer scraper-token-0123456780" }],
    ["a prefix of it", { authorization: `Bearer ${token.slice(0, -1)}` }],
    ["not a bearer", { authorization: token }],
  ])("answers 401 to %s", async (_name, headers: Record<string, string>) => {
    const response = await guarded.app.request("/metrics", { headers });
    expect(response.status).toBe(401);
    expect(await response.text()).not.toContain("process_cpu_user_seconds_total");
  });

  it("answers the scraper that sends it", async () => {
    const response = await guarded.app.request("/metrics", { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("process_cpu_user_seconds_total");
  });
});
