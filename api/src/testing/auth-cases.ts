import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { KEY_PREFIX } from "../services/keys/key-hash";
import { type AccountWithKey, createAccountWithKey, createRevokedKey } from "./accounts";
import type { TestApp } from "./deps";

export interface AuthCaseRequest {
  app: TestApp["app"];
  deps: TestApp["deps"];
  /** Account A: seed the resource the request is about with its key (`owner.headers`). */
  owner: AccountWithKey;
  /** The Authorization header of the case: spread into the request's headers; empty for none. */
  headers: Record<string, string>;
}

export interface AuthCaseOptions {
  /**
   * What another account's key gets for account A's resource. Default: 404, never A's data. A list
   * route passes its own check (A's items absent from B's list).
   */
  crossAccount?: (response: Response, owner: AccountWithKey) => void | Promise<void>;
}

/** Forms of Authorization that are not `Bearer <key>`, each of which must be refused. */
const malformed = (key: string): [string, string][] => [
  ["the scheme alone", "Bearer"],
  ["an empty bearer", "Bearer  "],
  ["another scheme", `Basic ${Buffer.from("user:pass").toString("base64")}`],
  ["the key without a scheme", key],
  ["the key with trailing words", `Bearer ${key} extra`],
];

/**
 * The security cases of a keyed route, shared so that no route can forget one: no key, malformed
 * headers, an unknown key and a revoked key are 401; another account's key sees account A's
 * resource as 404. `makeRequest` seeds account A's resource with `owner`'s key, then sends the
 * request under test with `headers`. A positive case checks the owner's own key gets through, so
 * the others cannot pass for a route that refuses everyone.
 */
export function describeAuthCases(
  name: string,
  harness: () => TestApp,
  makeRequest: (request: AuthCaseRequest) => Promise<Response>,
  options: AuthCaseOptions = {},
): void {
  describe(`${name} security`, () => {
    const send = async (authorization: (owner: AccountWithKey) => Promise<string | undefined>) => {
      const { app, deps } = harness();
      const owner = await createAccountWithKey(deps.database);
      const header = await authorization(owner);
      const headers: Record<string, string> = header === undefined ? {} : { authorization: header };
      return { response: await makeRequest({ app, deps, owner, headers }), owner };
    };

    const expectUnauthorized = async (response: Response) => {
      expect(response.status).toBe(401);
      const body = (await response.json()) as { error?: { code?: string } };
      expect(body.error?.code).toBe("UNAUTHORIZED");
    };

    it("accepts the owner's own key", async () => {
      const { response } = await send(async (owner) => owner.headers.authorization);
      expect(response.status).toBeLessThan(400);
    });

    it("refuses a request without Authorization (401)", async () => {
      const { response } = await send(async () => undefined);
      await expectUnauthorized(response);
    });

    for (const [label, header] of malformed(`${KEY_PREFIX}${"x".repeat(43)}`)) {
      it(`refuses a malformed Authorization: ${label} (401)`, async () => {
        const { response } = await send(async (owner) => header.replace(/fa_live_x+/, owner.key));
        await expectUnauthorized(response);
      });
    }

    it("refuses an unknown key (401)", async () => {
      const { response } = await send(
        async () => `Bearer ${KEY_PREFIX}${randomBytes(32).toString("base64url")}`,
      );
      await expectUnauthorized(response);
    });

    it("refuses a revoked key of the same account (401)", async () => {
      const { response } = await send(
        async (owner) => `Bearer ${await createRevokedKey(harness().deps.database, owner.accountId)}`,
      );
      await expectUnauthorized(response);
    });

    it("shows another account's resource to no one else (404 by default)", async () => {
      const { response, owner } = await send(async () => {
        const other = await createAccountWithKey(harness().deps.database);
        return other.headers.authorization;
      });
      if (options.crossAccount) {
        await options.crossAccount(response, owner);
        return;
      }
      expect(response.status).toBe(404);
      const body = (await response.json()) as { error?: { code?: string } };
      expect(body.error?.code).toBe("NOT_FOUND");
    });
  });
}
