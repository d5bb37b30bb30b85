import { randomUUID } from "node:crypto";
import type { DatabaseHandle } from "@funnel/db/client";
import { createTestPglite } from "@funnel/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidError, NotFoundError } from "../../errors";
import { abTestBody, createAccountWithKey, funnelBody } from "../../testing";
import { deleteFunnel, getAbTest, getFunnel, listAbTests, listFunnels, putAbTest, putFunnel } from "./index";

/** The same services on the embedded default's driver (PGlite), which route tests do not reach. */
describe("catalog services on PGlite", () => {
  let database: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestPglite();
  });
  afterAll(() => database?.close());

  it("stores, replaces, lists and deletes funnels and tests, scoped to the account", async () => {
    const ctx = { database };
    const a = await createAccountWithKey(database);
    const b = await createAccountWithKey(database);
    const funnelId = randomUUID();
    const body = funnelBody();

    const stored = await putFunnel(ctx, a, { id: funnelId, ...body });
    expect(stored.steps).toEqual(body.steps);
    const replaced = await putFunnel(ctx, a, { id: funnelId, ...body, steps: body.steps.slice(1) });
    expect(replaced.steps).toEqual(body.steps.slice(1));
    await expect(putFunnel(ctx, b, { id: funnelId, ...body })).rejects.toBeInstanceOf(NotFoundError);
    await expect(getFunnel(ctx, b, { id: funnelId })).rejects.toBeInstanceOf(NotFoundError);
    expect((await listFunnels(ctx, b)).map((f) => f.id)).toEqual([]);

    const testId = randomUUID();
    const test = abTestBody(funnelId, body);
    expect((await putAbTest(ctx, a, { id: testId, ...test })).variants).toEqual(test.variants);
    await expect(
      putAbTest(ctx, a, {
        id: testId,
        ...test,
        variants: test.variants.map((v) => ({ ...v, is_control: true })),
      }),
    ).rejects.toBeInstanceOf(InvalidError);
    expect((await listAbTests(ctx, a, { funnel_id: funnelId })).map((x) => x.id)).toEqual([testId]);

    await deleteFunnel(ctx, a, { id: funnelId });
    await expect(getAbTest(ctx, a, { id: testId })).rejects.toBeInstanceOf(NotFoundError);
    expect(await listFunnels(ctx, a)).toEqual([]);
  });
});
