import { randomUUID } from "node:crypto";
import { eq } from "@funnel/db/orm";
import { accounts, apiKeys } from "@funnel/db/schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NotFoundError, UnauthorizedError } from "../../errors";
import { makeTestDeps, type TestDeps } from "../../testing";
import { authenticate } from "./authenticate";
import { createApiKey } from "./create-key";
import { hashApiKey, KEY_PREFIX } from "./key-hash";
import { revokeApiKey } from "./revoke-key";

let deps: TestDeps;
beforeAll(async () => {
  deps = await makeTestDeps();
});
afterAll(() => deps?.close());

describe("createApiKey", () => {
  it("creates the missing account and a key that authenticates as it", async () => {
    const accountId = randomUUID();
    const created = await createApiKey(deps, {
      accountId,
      accountName: "Acme",
      name: "ci",
      notificationEmail: "ops@acme.example",
    });
    expect(created.accountCreated).toBe(true);
    expect(created.key.startsWith(KEY_PREFIX)).toBe(true);

    const [account] = await deps.database.db.select().from(accounts).where(eq(accounts.id, accountId));
    expect(account).toMatchObject({ name: "Acme", notificationEmail: "ops@acme.example" });

    const scope = await authenticate(deps, created.key);
    expect(scope).toEqual({ accountId, keyId: created.keyId, notificationEmail: "ops@acme.example" });
  });

  it("stores only the key's hash and prefix", async () => {
    const created = await createApiKey(deps, { accountId: randomUUID() });
    const [row] = await deps.database.db.select().from(apiKeys).where(eq(apiKeys.id, created.keyId));
    expect(row?.keyHash).toBe(hashApiKey(created.key));
    expect(row?.prefix).toBe(created.prefix);
    expect(JSON.stringify(row)).not.toContain(created.key);
  });

  it("adds keys to an existing account without changing it", async () => {
    const accountId = randomUUID();
    await createApiKey(deps, { accountId, accountName: "First name" });
    const second = await createApiKey(deps, { accountId, accountName: "Other name" });
    expect(second.accountCreated).toBe(false);
    const [account] = await deps.database.db.select().from(accounts).where(eq(accounts.id, accountId));
    expect(account?.name).toBe("First name");
  });
});

describe("revokeApiKey", () => {
  it("revokes by key id or by the key itself; the key then fails like an unknown one", async () => {
    const accountId = randomUUID();
    const byId = await createApiKey(deps, { accountId });
    const byKey = await createApiKey(deps, { accountId });
    await revokeApiKey(deps, { accountId }, { key: byId.keyId });
    await revokeApiKey(deps, { accountId }, { key: byKey.key });
    await expect(authenticate(deps, byId.key)).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(authenticate(deps, byKey.key)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it("cannot revoke another account's key, an already revoked key or a non-id", async () => {
    const owner = await createApiKey(deps, { accountId: randomUUID() });
    const other = await createApiKey(deps, { accountId: randomUUID() });
    await expect(
      revokeApiKey(deps, { accountId: other.accountId }, { key: owner.keyId }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(authenticate(deps, owner.key)).resolves.toMatchObject({ accountId: owner.accountId });

    await revokeApiKey(deps, { accountId: owner.accountId }, { key: owner.keyId });
    await expect(
      revokeApiKey(deps, { accountId: owner.accountId }, { key: owner.keyId }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      revokeApiKey(deps, { accountId: owner.accountId }, { key: "not-a-key" }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });
});
