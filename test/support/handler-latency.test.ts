import { type Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { httpMetrics } from "../../api/src/http/metrics";
import { handlerShares } from "./handler-latency";

const ROUTE = "/api/v1/analytics/track";

/** The API's own duration histogram (as its middleware registers it), fed known durations. */
function apiMetrics(observations: [route: string, status: string, seconds: number][]): Registry {
  const registry = new Registry();
  httpMetrics(registry);
  const duration = registry.getSingleMetric("http_request_duration_seconds") as Histogram;
  for (const [route, status, seconds] of observations)
    duration.observe({ method: "POST", route, status }, seconds);
  return registry;
}

describe("handler latency shares from /metrics", () => {
  it("sums the route's 2xx answers over processes, per bucket, and leaves out other routes and statuses", async () => {
    const first = apiMetrics([
      [ROUTE, "202", 0.003],
      [ROUTE, "202", 0.008],
      [ROUTE, "202", 0.02],
      [ROUTE, "202", 0.2],
      [ROUTE, "429", 0.001],
      ["/api/v1/analytics/import", "202", 0.001],
    ]);
    const second = apiMetrics([[ROUTE, "202", 0.004]]);
    const shares = handlerShares([await first.metrics(), await second.metrics()], ROUTE);
    // Five answers: 3 and 4 ms, 8 ms, 20 ms, 200 ms.
    expect(shares).toMatchObject({ "5": 0.4, "10": 0.6, "25": 0.8, "50": 0.8, "100": 0.8, "250": 1 });
    expect(handlerShares([await first.metrics()], "/nowhere")).toEqual({});
  });
});
