import { createHash, timingSafeEqual } from "node:crypto";
import { createRoute, z } from "@hono/zod-openapi";
import { UnauthorizedError } from "../errors";
import { errorResponses } from "../http/errors";
import { registerProcessMetrics, registerQueueMetrics } from "../http/metrics";
import type { RegisterRoute } from "./index";

export const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["Operations"],
  summary: "Prometheus metrics",
  description:
    "Process metrics, HTTP requests by route pattern and status, ingest counts, and the ingest queue's " +
    "depth and durability. No account data; no API key. With METRICS_TOKEN set, the scraper sends " +
    "`Authorization: Bearer <METRICS_TOKEN>`.",
  responses: {
    200: {
      description: "Prometheus text exposition format",
      content: { "text/plain": { schema: z.string() } },
    },
    ...errorResponses(401),
  },
});

const digest = (value: string) => createHash("sha256").update(value).digest();

const register: RegisterRoute = (app, deps) => {
  registerProcessMetrics(deps.metrics);
  registerQueueMetrics(deps.metrics, deps.queue);
  const token = deps.config.METRICS_TOKEN;
  app.openapi(metricsRoute, async (c) => {
    if (token !== undefined) {
      const given = /^Bearer (.+)$/.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
      // Compared as digests: equal lengths, and no timing hint of the token.
      if (!timingSafeEqual(digest(given), digest(token))) {
        throw new UnauthorizedError("GET /metrics needs Authorization: Bearer <METRICS_TOKEN>");
      }
    }
    const text = await deps.metrics.metrics();
    return c.text(text, 200, { "content-type": deps.metrics.contentType });
  });
};

export default register;
