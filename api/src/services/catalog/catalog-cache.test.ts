import { randomUUID } from "node:crypto";
import { createDatabase, type Database, type DatabaseHandle } from "@funnel/db/client";
import { sql } from "@funnel/db/orm";
import { createTestPglite } from "@funnel/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pageView } from "../../ingest/testing";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  funnelBody,
  putFunnelRequest,
  type TestApp,
} from "../../testing";
import { CatalogCache } from "./catalog-cache";
import { deleteFunnel } from "./delete-funnel";
import { putFunnel } from "./put-funnel";

/** Resolves once `check` holds, or fails after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Once the writes' notifications are heard, `check` is answered from memory. */
async function untilRemembered(catalog: CatalogCache, check: () => Promise<unknown>): Promise<void> {
  await until(async () => {
    await check();
    const hits = catalog.hits;
    await check();
    return catalog.hits > hits;
  }, 2_000);
}

const equal = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const stepsOf = async (catalog: CatalogCache, database: DatabaseHandle, funnelId: string) => {
  const funnel = (await catalog.lookup(database, [funnelId])).get(funnelId);
  return funnel === undefined ? "unchecked" : funnel === null ? "unknown" : [...funnel.stepIds].sort();
};

// Two API processes on one database: A answers /track, B is where the funnel builder writes.
describe("the catalog an API process remembers, changed through another one, on TimescaleDB", () => {
  let a: TestApp;
  let b: TestApp;
  let bDatabase: DatabaseHandle;
  let account: AccountWithKey;

  beforeAll(async () => {
    a = await createTestApp();
    bDatabase = await createDatabase({ url: a.deps.databaseUrl, poolMax: 2 });
    b = await createTestApp({ database: bDatabase });
    account = await createAccountWithKey(a.deps.database);
    await until(() => a.deps.catalog.trusted && b.deps.catalog.trusted);
  });
  afterAll(async () => {
    await b?.close();
    await bDatabase?.close();
    await a?.close();
  });

  const reasonsOnA = async (event: Record<string, unknown>) => {
    const response = await a.app.request("/api/v1/analytics/track", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(event),
    });
    expect(response.status).toBe(202);
    const body = (await response.json()) as { not_counted: { reason: string }[] };
    return body.not_counted.map((n) => n.reason);
  };

  it("answers from memory, and with a step B adds or a funnel B deletes from the commit on", async () => {
    const funnelId = randomUUID();
    const body = funnelBody();
    expect((await putFunnelRequest(b.app, account.headers, funnelId, body)).status).toBe(200);
    const added = randomUUID();
    const stepEvent = { ...pageView(funnelId), event_type: "step_entry", funnel_step_id: added };

    expect(await reasonsOnA(stepEvent)).toEqual(["unknown_step"]);
    await untilRemembered(a.deps.catalog, () => reasonsOnA(stepEvent));
    expect(await reasonsOnA(stepEvent)).toEqual(["unknown_step"]);

    const steps = [...body.steps, { id: added, name: "Upsell", step_type: "upsell", position: 4 }];
    expect((await putFunnelRequest(b.app, account.headers, funnelId, { ...body, steps })).status).toBe(200);
    // The notification arrives with the commit: no time to live to wait out.
    const changedAt = Date.now();
    await until(async () => (await reasonsOnA(stepEvent)).length === 0, 2_000);
    expect(Date.now() - changedAt).toBeLessThan(1_000);

    const deleted = await b.app.request(`/api/v1/funnels/${funnelId}`, {
      method: "DELETE",
      headers: account.headers,
    });
    expect(deleted.status).toBe(204);
    const deletedAt = Date.now();
    await until(async () => (await reasonsOnA(stepEvent)).includes("unknown_funnel"), 2_000);
    expect(Date.now() - deletedAt).toBeLessThan(1_000);
  });

  it("does not tell of a write that was refused", async () => {
    const funnelId = randomUUID();
    const body = funnelBody();
    const steps = body.steps.map((s) => s.id).sort();
    // Unknown, and remembered so for longer than the wait: only B's notification makes A look again.
    expect(await stepsOf(a.deps.catalog, a.deps.database, funnelId)).toBe("unknown");
    await putFunnel(b.deps, account, { id: funnelId, ...body });
    await until(async () => equal(await stepsOf(a.deps.catalog, a.deps.database, funnelId), steps), 2_000);
    await untilRemembered(a.deps.catalog, () => stepsOf(a.deps.catalog, a.deps.database, funnelId));
    const other = await createAccountWithKey(a.deps.database);
    // Another account may not take the funnel id: nothing changed, and A keeps what it knows.
    await expect(
      putFunnel({ database: bDatabase }, other, { id: funnelId, ...funnelBody() }),
    ).rejects.toThrow();
    const hits = a.deps.catalog.hits;
    await new Promise((r) => setTimeout(r, 100));
    expect(await stepsOf(a.deps.catalog, a.deps.database, funnelId)).toEqual(
      body.steps.map((s) => s.id).sort(),
    );
    expect(a.deps.catalog.hits).toBe(hits + 1);
  });

  it("forgets every funnel when its listening connection is lost, and listens again", async () => {
    const funnelId = randomUUID();
    const body = funnelBody();
    await putFunnel(a.deps, account, { id: funnelId, ...body });
    await stepsOf(a.deps.catalog, a.deps.database, funnelId);
    await bDatabase.db.execute(sql`select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and application_name like '%-listen' and pid <> pg_backend_pid()`);
    await until(() => !a.deps.catalog.trusted);
    // Deleted while A may not be listening: the notification can be lost, the cache must not be.
    await deleteFunnel({ database: bDatabase }, account, { id: funnelId });
    expect(await stepsOf(a.deps.catalog, a.deps.database, funnelId)).toBe("unknown");
    await until(() => a.deps.catalog.trusted);
    expect(await stepsOf(a.deps.catalog, a.deps.database, funnelId)).toBe("unknown");
  });
});

describe("the catalog remembered on the embedded database (PGlite)", () => {
  let database: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestPglite();
  });
  afterAll(() => database?.close());

  it("hears a write made on the same database, even by a caller that does not hold the cache", async () => {
    let now = 1_000;
    const catalog = new CatalogCache({ now: () => now });
    const stop = catalog.follow(database);
    try {
      await until(() => catalog.trusted);
      const account = await createAccountWithKey(database);
      const funnelId = randomUUID();
      const body = funnelBody();
      expect(await stepsOf(catalog, database, funnelId)).toBe("unknown");
      await putFunnel({ database }, account, { id: funnelId, ...body });
      await until(async () => Array.isArray(await stepsOf(catalog, database, funnelId)), 2_000);
      const hits = catalog.hits;
      expect(await stepsOf(catalog, database, funnelId)).toEqual(body.steps.map((s) => s.id).sort());
      expect(catalog.hits).toBe(hits + 1);
      await deleteFunnel({ database }, account, { id: funnelId });
      await until(async () => (await stepsOf(catalog, database, funnelId)) === "unknown", 2_000);

      // A funnel written past the services (SQL by hand) tells no one: an unknown one is
      // remembered only for a few seconds, a known one for the time to live.
      const byHand = randomUUID();
      expect(await stepsOf(catalog, database, byHand)).toBe("unknown");
      await database.db.execute(
        sql`insert into funnels (id, account_id, name) values (${byHand}, ${account.accountId}, 'by hand')`,
      );
      expect(await stepsOf(catalog, database, byHand)).toBe("unknown");
      now += 5_000;
      expect(await stepsOf(catalog, database, byHand)).toEqual([]);
    } finally {
      await stop();
    }
  });
});

describe("a catalog that does not answer", () => {
  it("leaves funnels unchecked after the deadline, and waits on at most two lookups at once", async () => {
    // A database that never answers, as one paused or cut off.
    const chain = { from: () => chain, leftJoin: () => chain, where: () => new Promise<never>(() => {}) };
    const database = { db: { select: () => chain } as unknown as Database };
    const catalog = new CatalogCache({ lookupDeadlineMs: 50 });
    const id = randomUUID();
    const started = Date.now();
    const [first, second] = await Promise.all([
      catalog.lookup(database, [id]),
      catalog.lookup(database, [id]),
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect([first.has(id), second.has(id)]).toEqual([false, false]);
    // Both still wait on the database: the next answer does not wait at all.
    const third = Date.now();
    expect((await catalog.lookup(database, [id])).has(id)).toBe(false);
    expect(Date.now() - third).toBeLessThan(45);
  });
});
