import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from "prom-client";
import type { IngestQueue } from "../ports";

/**
 * The API's Prometheus metrics. Each is created once per registry (boot makes one registry per
 * process, tests one per app), so registering twice on the same registry is harmless.
 */

const REQUESTS = "http_requests_total";
const DURATION = "http_request_duration_seconds";
const QUEUE_DEPTH = "funnel_ingest_queue_depth";
const QUEUE_DURABLE = "funnel_ingest_queue_durable";

type HttpLabels = "method" | "route" | "status";

/**
 * Counts requests and times them by method, route pattern (`/api/v1/funnels/:funnel_id`, never the
 * raw path, so ids do not become label values) and status. Install it first, before the routes.
 */
export function httpMetrics(registry: Registry): MiddlewareHandler {
  const requests = once(
    registry,
    REQUESTS,
    () =>
      new Counter<HttpLabels>({
        name: REQUESTS,
        help: "HTTP requests answered, by method, route pattern and status",
        labelNames: ["method", "route", "status"],
        registers: [registry],
      }),
  );
  const duration = once(
    registry,
    DURATION,
    () =>
      new Histogram<HttpLabels>({
        name: DURATION,
        help: "HTTP request duration in seconds, by method, route pattern and status",
        labelNames: ["method", "route", "status"],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      }),
  );
  return async (c, next) => {
    const stopTimer = duration.startTimer();
    let status = 500;
    try {
      await next();
      status = c.res.status;
    } finally {
      const labels = { method: c.req.method, route: routeLabel(matchedRoutes(c)), status: String(status) };
      requests.inc(labels);
      stopTimer(labels);
    }
  };
}

/** The pattern of the route that answered; requests no route matched share one label. */
function routeLabel(routes: { method: string; path: string }[]): string {
  const last = routes.at(-1);
  if (!last || (last.method === "ALL" && (last.path === "*" || last.path === "/*"))) return "unmatched";
  return last.path;
}

/** Node's process metrics (CPU, memory, event loop lag, GC, handles). */
export function registerProcessMetrics(registry: Registry): void {
  if (registry.getSingleMetric("process_cpu_user_seconds_total")) return;
  collectDefaultMetrics({ register: registry });
}

/**
 * The ingest queue's depth and durability, read from the queue at each scrape. A scrape while the
 * queue's store is down reports the depth as NaN rather than failing the whole scrape.
 */
export function registerQueueMetrics(registry: Registry, queue: IngestQueue): void {
  once(
    registry,
    QUEUE_DEPTH,
    () =>
      new Gauge({
        name: QUEUE_DEPTH,
        help: "Ingest jobs waiting or running",
        registers: [registry],
        async collect() {
          try {
            this.set(await queue.depth());
          } catch {
            this.set(Number.NaN);
          }
        },
      }),
  );
  once(
    registry,
    QUEUE_DURABLE,
    () =>
      new Gauge({
        name: QUEUE_DURABLE,
        help: "1 when the ingest queue keeps what it acknowledged (see /readyz warnings), else 0",
        registers: [registry],
        async collect() {
          try {
            const health = await queue.health();
            this.set(health.reachable && health.durable ? 1 : 0);
          } catch {
            this.set(0);
          }
        },
      }),
  );
}

function once<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}
