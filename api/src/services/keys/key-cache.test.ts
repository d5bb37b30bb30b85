import { createDatabase, type DatabaseHandle, type ListenHandlers } from "@funnel/db/client";
import { migrate } from "@funnel/db/migrate";
import { sql } from "@funnel/db/orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccountScope } from "../../deps";
import { UnauthorizedError } from "../../errors";
import { createAccountWithKey } from "../../testing/accounts";
import { makeTestDeps, type TestDeps } from "../../testing/deps";
import { authenticate } from "./authenticate";
import { KeyCache } from "./key-cache";
import { revokeApiKey } from "./revoke-key";

const scope: AccountScope = { accountId: "a", keyId: "k", notificationEmail: null };

/** A database whose listening the test drives by hand. */
function fakeListener() {
  let handlers: ListenHandlers | undefined;
  return {
    database: {
      listen: (_channel: string, h: ListenHandlers) => {
        handlers = h;
        return async () => {};
      },
    },
    emit: (event: keyof ListenHandlers) => handlers?.[event](""),
  };
}

describe("KeyCache", () => {
  it("keeps nothing until it listens, and forgets everything when the listening stops", () => {
    const keys = new KeyCache();
    const db = fakeListener();
    keys.follow(db.database);
    keys.store("h", scope, keys.version());
    expect(keys.get("h")).toBeUndefined();
    db.emit("onListen");
    keys.store("h", scope, keys.version());
    expect(keys.get("h")).toBe(scope);
    db.emit("onLost");
    expect(keys.get("h")).toBeUndefined();
    db.emit("onListen");
    expect(keys.get("h")).toBeUndefined();
  });

  it("does not store a lookup that began before a key change was heard", () => {
    const keys = new KeyCache();
    const db = fakeListener();
    keys.follow(db.database);
    db.emit("onListen");
    const before = keys.version();
    db.emit("onNotify");
    keys.store("h", scope, before);
    expect(keys.get("h")).toBeUndefined();
    keys.store("h", scope, keys.version());
    expect(keys.get("h")).toBe(scope);
  });

  it("drops an entry after its time to live", () => {
    let now = 1_000;
    const keys = new KeyCache(30_000, () => now);
    const db = fakeListener();
    keys.follow(db.database);
    db.emit("onListen");
    keys.store("h", scope, keys.version());
    now += 29_999;
    expect(keys.get("h")).toBe(scope);
    now += 1;
    expect(keys.get("h")).toBeUndefined();
  });
});

/** Resolves once `check` holds, or fails after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const refused = (deps: TestDeps, key: string) =>
  authenticate(deps, key).then(
    () => false,
    (error: unknown) => error instanceof UnauthorizedError,
  );

// An API process (deps) and, beside it, another process's connection (the keys:revoke command).
describe("API keys remembered by an API process, on TimescaleDB", () => {
  let deps: TestDeps;
  let other: DatabaseHandle;

  beforeAll(async () => {
    deps = await makeTestDeps();
    other = await createDatabase({ url: deps.databaseUrl, poolMax: 1 });
    await until(() => deps.keys.trusted);
  });
  afterAll(async () => {
    await other.close();
    await deps.close();
  });

  it("answers a known key without the database, and refuses it once another process revokes it", async () => {
    const { accountId, key: apiKey } = await createAccountWithKey(deps.database);
    expect((await authenticate(deps, apiKey)).accountId).toBe(accountId);
    const hits = deps.keys.hits;
    expect((await authenticate(deps, apiKey)).accountId).toBe(accountId);
    expect(deps.keys.hits).toBe(hits + 1);

    await revokeApiKey({ database: other }, { accountId }, { key: apiKey });
    // The notification arrives with the commit: no time to live to wait out.
    const revokedAt = Date.now();
    await until(() => refused(deps, apiKey), 2_000);
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
  });

  it("forgets every key when its connection is lost, and listens again", async () => {
    const { accountId, key: apiKey } = await createAccountWithKey(deps.database);
    await authenticate(deps, apiKey);
    await other.db.execute(sql`select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and application_name like '%-listen'`);
    await until(() => !deps.keys.trusted);
    // Revoked while nobody may be listening: the notification can be lost, the cache must not be.
    await revokeApiKey({ database: other }, { accountId }, { key: apiKey });
    expect(await refused(deps, apiKey)).toBe(true);
    await until(() => deps.keys.trusted);
    expect(await refused(deps, apiKey)).toBe(true);

    const second = await createAccountWithKey(deps.database);
    await authenticate(deps, second.key);
    const hits = deps.keys.hits;
    await authenticate(deps, second.key);
    expect(deps.keys.hits).toBe(hits + 1);
  });
});

describe("API keys remembered on the embedded database (PGlite)", () => {
  it("hears a revocation made on the same database", async () => {
    const database = await createDatabase({ dataDir: "memory://" });
    await migrate(database);
    const keys = new KeyCache();
    const stop = keys.follow(database);
    try {
      await until(() => keys.trusted);
      const ctx = { database, keys };
      const { accountId, key } = await createAccountWithKey(database);
      await authenticate(ctx, key);
      const hits = keys.hits;
      await authenticate(ctx, key);
      expect(keys.hits).toBe(hits + 1);
      await revokeApiKey({ database }, { accountId }, { key });
      await until(
        () =>
          authenticate(ctx, key).then(
            () => false,
            (error: unknown) => error instanceof UnauthorizedError,
          ),
        2_000,
      );
    } finally {
      await stop();
      await database.close();
    }
  });
});
