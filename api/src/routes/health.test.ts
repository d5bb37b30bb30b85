import type { DatabaseHandle } from "@funnel/db/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestQueue, QueueHealth } from "../ports";
import { createTestApp, type TestApp } from "../testing";

interface ReadinessJson {
  status: string;
  checks: {
    database: { ok: boolean; kind: string; error?: string };
    queue: { ok: boolean; durable: boolean; warnings: string[] };
  };
  warnings: string[];
}

/** A queue whose health is whatever the test says; nothing is ever enqueued. */
function queueReporting(health: QueueHealth | Error): IngestQueue {
  return {
    enqueue: async () => {},
    depth: async () => 0,
    health: async () => {
      if (health instanceof Error) throw health;
      return health;
    },
    close: async () => {},
  };
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t?.close());

/** An app over the same test database with some dependencies replaced. */
async function appWith(overrides: { database?: DatabaseHandle; queue?: IngestQueue }) {
  const other = await createTestApp({ database: t.deps.database, ...overrides });
  return other;
}

describe("GET /healthz", () => {
  it("answers while the process is up, without a key", async () => {
    const response = await t.app.request("/healthz");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });
});

describe("GET /readyz", () => {
  it("is ready with the database and a durable queue reachable", async () => {
    const ready = await appWith({ queue: queueReporting({ reachable: true, durable: true, warnings: [] }) });
    try {
      const response = await ready.app.request("/readyz");
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        status: "ready",
        checks: {
          database: { ok: true, kind: "timescaledb" },
          queue: { ok: true, durable: true, warnings: [] },
        },
        warnings: [],
      });
    } finally {
      await ready.close();
    }
  });

  it("stays ready but says so loudly when the queue may lose accepted events", async () => {
    const warning = "redis maxmemory-policy is allkeys-lru: queued jobs can be evicted; set it to noeviction";
    const lossy = await appWith({
      queue: queueReporting({ reachable: true, durable: false, warnings: [warning] }),
    });
    try {
      const response = await lossy.app.request("/readyz");
      expect(response.status).toBe(200);
      const body = (await response.json()) as ReadinessJson;
      expect(body.checks.queue).toEqual({ ok: true, durable: false, warnings: [warning] });
      expect(body.warnings).toEqual([warning]);
    } finally {
      await lossy.close();
    }
  });

  it("warns about the in-process queue of the default test deps", async () => {
    const body = (await (await t.app.request("/readyz")).json()) as ReadinessJson;
    expect(body.status).toBe("ready");
    expect(body.checks.queue.durable).toBe(false);
    expect(body.warnings.join(" ")).toContain("in-process queue");
  });

  it("is 503 when the database does not answer, naming no host", async () => {
    const down: DatabaseHandle = {
      ...t.deps.database,
      ping: () => Promise.reject(new Error("connect ECONNREFUSED 10.0.0.7:5432")),
    };
    const unready = await appWith({ database: down });
    try {
      const response = await unready.app.request("/readyz");
      expect(response.status).toBe(503);
      const text = await response.text();
      expect(text).not.toContain("10.0.0.7");
      const body = JSON.parse(text) as ReadinessJson;
      expect(body.status).toBe("not_ready");
      expect(body.checks.database).toMatchObject({ ok: false, error: "database unreachable" });
      expect(body.warnings).toContain("database unreachable");
    } finally {
      await unready.close();
    }
  });

  it("is 503 when the queue's store is unreachable or its check fails", async () => {
    for (const queue of [
      queueReporting({
        reachable: false,
        durable: false,
        warnings: ["redis unreachable: connection refused"],
      }),
      queueReporting(new Error("boom")),
    ]) {
      const unready = await appWith({ queue });
      try {
        const response = await unready.app.request("/readyz");
        expect(response.status).toBe(503);
        const body = (await response.json()) as ReadinessJson;
        expect(body.checks.queue.ok).toBe(false);
        expect(body.warnings.length).toBeGreaterThan(0);
      } finally {
        await unready.close();
      }
    }
  });
});
