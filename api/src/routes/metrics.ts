import { createRoute, z } from "@hono/zod-openapi";
import { registerProcessMetrics, registerQueueMetrics } from "../http/metrics";
import type { RegisterRoute } from "./index";

export const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["Operations"],
  summary: "Prometheus metrics",
  description:
    "Process metrics, HTTP requests by route pattern and status, ingest counts, and the ingest queue's " +
    "depth and durability. No account data; no API key.",
  responses: {
    200: {
      description: "Prometheus text exposition format",
      content: { "text/plain": { schema: z.string() } },
    },
  },
});

const register: RegisterRoute = (app, deps) => {
  registerProcessMetrics(deps.metrics);
  registerQueueMetrics(deps.metrics, deps.queue);
  app.openapi(metricsRoute, async (c) => {
    const text = await deps.metrics.metrics();
    return c.text(text, 200, { "content-type": deps.metrics.contentType });
  });
};

export default register;
