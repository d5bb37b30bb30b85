import { createRoute, z } from "@hono/zod-openapi";
import type { Deps } from "../deps";
import type { QueueHealth } from "../ports";
import type { RegisterRoute } from "./index";

/** Liveness and readiness probes; no API key. */

const tags = ["Operations"];

export const healthzRoute = createRoute({
  method: "get",
  path: "/healthz",
  tags,
  summary: "Liveness: the process is up",
  responses: {
    200: {
      description: "The process answers",
      content: { "application/json": { schema: z.object({ status: z.literal("ok") }) } },
    },
  },
});

const readiness = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    checks: z.object({
      database: z.object({ ok: z.boolean(), kind: z.string(), error: z.string().optional() }),
      queue: z.object({ ok: z.boolean(), durable: z.boolean(), warnings: z.array(z.string()) }),
    }),
    warnings: z.array(z.string()).openapi({
      description:
        "Everything an operator should fix, e.g. a Redis that may lose queued events (eviction policy, no " +
        "persistence): then a 202 from the ingest routes is not a durable promise",
    }),
  })
  .openapi("Readiness");

export const readyzRoute = createRoute({
  method: "get",
  path: "/readyz",
  tags,
  summary: "Readiness: database and queue reachable",
  description:
    "200 when the database and the ingest queue's store answer (with warnings when the queue cannot keep " +
    "what it acknowledges), 503 when either does not.",
  responses: {
    200: { description: "Ready", content: { "application/json": { schema: readiness } } },
    503: { description: "Not ready", content: { "application/json": { schema: readiness } } },
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openapi(healthzRoute, (c) => c.json({ status: "ok" as const }, 200));

  app.openapi(readyzRoute, async (c) => {
    const report = await checkReadiness(deps);
    if (report.status === "ready") return c.json(report, 200);
    deps.logger.warn({ request_id: c.get("requestId"), warnings: report.warnings }, "not ready");
    return c.json(report, 503);
  });
};

export default register;

/** How long each dependency gets to answer before it counts as unreachable. */
const CHECK_TIMEOUT_MS = 3_000;

type Readiness = z.infer<typeof readiness>;

/**
 * Ready when the database and the queue's store both answer. A queue that answers but may lose
 * acknowledged batches (Redis evicting keys, or without persistence) stays ready, loudly warned.
 */
async function checkReadiness(deps: Pick<Deps, "database" | "queue" | "logger">): Promise<Readiness> {
  const [database, queue] = await Promise.all([
    within(CHECK_TIMEOUT_MS, deps.database.ping()).then(
      () => ({ ok: true, kind: deps.database.kind }),
      (error: unknown) => {
        deps.logger.warn({ err: error }, "readiness: database ping failed");
        // The reason is logged; the unauthenticated probe answer names no hosts.
        return { ok: false, kind: deps.database.kind, error: "database unreachable" };
      },
    ),
    within(CHECK_TIMEOUT_MS, deps.queue.health()).then(
      (health: QueueHealth) => ({ ok: health.reachable, durable: health.durable, warnings: health.warnings }),
      (error: unknown) => {
        deps.logger.warn({ err: error }, "readiness: queue health check failed");
        return { ok: false, durable: false, warnings: ["queue health check failed"] };
      },
    ),
  ]);
  const warnings = [...(database.ok ? [] : ["database unreachable"]), ...queue.warnings];
  if (queue.ok && !queue.durable && queue.warnings.length === 0) {
    warnings.push("the ingest queue may lose accepted events");
  }
  return {
    status: database.ok && queue.ok ? "ready" : "not_ready",
    checks: { database, queue },
    warnings,
  };
}

function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
