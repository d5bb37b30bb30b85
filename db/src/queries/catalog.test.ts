import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AcceptedEvent } from "@funnel/events";
import { storedEvent } from "@funnel/fixtures";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, type DatabaseHandle, queryRows } from "../client";
import { migrationsFolder } from "../migrate";
import { abTests, abTestVariants, accounts, analyticsEvents, funnelSteps, funnels, pages } from "../schema";
import { createTestDatabase, createTestPglite, type TestDatabase } from "../testing";
import {
  type AbTestWrite,
  deleteAbTest,
  deleteFunnel,
  type FunnelWrite,
  getFunnel,
  upsertAbTest,
  upsertFunnel,
} from "./catalog";
import { writeBatch } from "./events";

/**
 * Catalog ids are client-chosen and public, and the events of a deleted funnel stay: an id, once
 * used, stays its account's. Another account's claim of a released funnel, step, page, test or
 * variant id is refused exactly as a claim of a live one, so the answer tells nothing of the
 * release; the owner alone may use the id again and finds its history under it. On TimescaleDB
 * and on PGlite (the embedded default).
 */

function funnelWrite(id = randomUUID()): FunnelWrite {
  return {
    id,
    name: "Spring Sale",
    steps: [
      { id: randomUUID(), name: "Landing", stepType: "optin", position: 1 },
      { id: randomUUID(), name: "Checkout", stepType: "checkout", position: 2 },
    ],
    pages: [
      { id: randomUUID(), name: "Landing A", url: "https://shop.example.com/a" },
      { id: randomUUID(), name: "Landing B", url: "https://shop.example.com/b" },
    ],
  };
}

function testWrite(funnel: FunnelWrite, id = randomUUID()): AbTestWrite {
  const [control, challenger] = funnel.pages ?? [];
  if (!control || !challenger) throw new Error("testWrite: the funnel needs two pages");
  return {
    id,
    funnelId: funnel.id,
    testName: "Headline",
    status: "running",
    startedAt: new Date("2026-03-01T00:00:00Z"),
    completedAt: null,
    variants: [
      { id: randomUUID(), variantName: "Control", isControl: true, pageId: control.id, trafficSplit: 50 },
      { id: randomUUID(), variantName: "Bold", isControl: false, pageId: challenger.id, trafficSplit: 50 },
    ],
  };
}

function pageView(funnelId: string, at = new Date()): AcceptedEvent {
  return storedEvent({
    event_type: "page_view",
    funnel_id: funnelId,
    session_id: "s-1",
    visitor_id: randomUUID(),
    occurred_at: at.toISOString(),
    url: "https://shop.example.com/a",
  });
}

async function newAccount(db: Database): Promise<string> {
  const id = randomUUID();
  await db.insert(accounts).values({ id, name: `account ${id.slice(0, 8)}` });
  return id;
}

/** Writes one public (unkeyed) event for the funnel; where it landed: the account, or kept aside. */
async function trackOne(db: Database, funnelId: string): Promise<string | "unknown_funnel"> {
  const event = pageView(funnelId);
  const result = await writeBatch(
    db,
    { source: "track", accountId: null, accepted: [event], rejected: [] },
    { batchId: randomUUID(), catalogTtlMs: 0 },
  );
  if (result.unknownFunnel === 1) return "unknown_funnel";
  const [row] = await queryRows<{ account_id: string }>(
    db,
    sql`select account_id from analytics_events where event_id = ${event.event_id}::uuid`,
  );
  if (!row) throw new Error("trackOne: the event was neither stored nor kept aside");
  return row.account_id;
}

/** The refusals of another account's claims of each of `owner`'s ids, in one object. */
async function claimsOf(db: Database, claimant: string, funnel: FunnelWrite, test: AbTestWrite) {
  const own = funnelWrite();
  // The claimant's own funnel, to hang the claimed steps, pages and tests on.
  const base = await upsertFunnel(db, claimant, own);
  if (base.refused !== null) throw new Error(`claimsOf: ${JSON.stringify(base)}`);
  const [step] = funnel.steps;
  const [page] = funnel.pages ?? [];
  const [variant] = test.variants;
  if (!step || !page || !variant) throw new Error("claimsOf: nothing to claim");
  const ownTest = testWrite(own);
  return {
    funnel: await upsertFunnel(db, claimant, { ...funnelWrite(), id: funnel.id }),
    step: await upsertFunnel(db, claimant, { ...own, steps: [...own.steps, { ...step, position: 9 }] }),
    page: await upsertFunnel(db, claimant, { ...own, pages: [...(own.pages ?? []), page] }),
    test: await upsertAbTest(db, claimant, { ...ownTest, id: test.id }),
    variant: await upsertAbTest(db, claimant, {
      ...ownTest,
      variants: ownTest.variants.map((v, i) => (i === 0 ? { ...v, id: variant.id } : v)),
    }),
  };
}

describe.each([
  ["TimescaleDB", "timescaledb"],
  ["PGlite", "pglite"],
] as const)("catalog ids on %s", (_name, kind) => {
  let handle: DatabaseHandle;
  let test: TestDatabase | undefined;
  beforeAll(async () => {
    if (kind === "pglite") handle = await createTestPglite();
    else {
      test = await createTestDatabase();
      handle = test.handle;
    }
  });
  afterAll(async () => {
    if (test) await test.drop();
    else await handle?.close();
  });

  it("keeps every id of a deleted funnel and test its account's: another's claim is refused as while it lived", async () => {
    const { db } = handle;
    const a = await newAccount(db);
    const b = await newAccount(db);
    const funnel = funnelWrite();
    const abTest = testWrite(funnel);
    expect((await upsertFunnel(db, a, funnel)).refused).toBeNull();
    expect((await upsertAbTest(db, a, abTest)).refused).toBeNull();
    expect(await trackOne(db, funnel.id)).toBe(a);

    const [step] = funnel.steps;
    const [page] = funnel.pages ?? [];
    const [variant] = abTest.variants;
    const expected = {
      funnel: { refused: "not_found", entity: "funnel" },
      step: { refused: "id_taken", entity: "steps", ids: [step?.id] },
      page: { refused: "id_taken", entity: "pages", ids: [page?.id] },
      test: { refused: "not_found", entity: "ab_test" },
      variant: { refused: "id_taken", entity: "variants", ids: [variant?.id] },
    };
    expect(await claimsOf(db, b, funnel, abTest), "claims of live ids").toEqual(expected);

    expect(await deleteAbTest(db, a, abTest.id)).toBe(true);
    expect(await deleteFunnel(db, a, funnel.id)).toBe(true);
    expect(await claimsOf(db, b, funnel, abTest), "claims of released ids").toEqual(expected);
    expect(await getFunnel(db, b, funnel.id)).toBeNull();

    // The released funnel's public traffic is kept aside: it reaches no account.
    expect(await trackOne(db, funnel.id)).toBe("unknown_funnel");
    const stored = await queryRows<{ account_id: string; n: number | string }>(
      db,
      sql`select account_id, count(*) as n from analytics_events where funnel_id = ${funnel.id}::uuid group by 1`,
    );
    expect(stored.map((r) => [r.account_id, Number(r.n)])).toEqual([[a, 1]]);

    // The owner takes its ids back, and its traffic with them.
    expect((await upsertFunnel(db, a, funnel)).refused).toBeNull();
    expect((await upsertAbTest(db, a, abTest)).refused).toBeNull();
    expect(await trackOne(db, funnel.id)).toBe(a);
  });

  it("lets the owner reuse its released step, page and variant ids in another funnel and test", async () => {
    const { db } = handle;
    const a = await newAccount(db);
    const funnel = funnelWrite();
    const abTest = testWrite(funnel);
    await upsertFunnel(db, a, funnel);
    await upsertAbTest(db, a, abTest);
    await deleteFunnel(db, a, funnel.id);

    const moved = { ...funnel, id: randomUUID() };
    const stored = await upsertFunnel(db, a, moved);
    expect(stored.refused).toBeNull();
    const retest = await upsertAbTest(db, a, { ...abTest, id: randomUUID(), funnelId: moved.id });
    expect(retest.refused).toBeNull();
  });

  it("binds nothing on a refused write: its new ids stay free for anyone", async () => {
    const { db } = handle;
    const a = await newAccount(db);
    const b = await newAccount(db);
    const c = await newAccount(db);
    const funnel = funnelWrite();
    await upsertFunnel(db, a, funnel);

    // B's new funnel names one of A's steps: refused, and B's other new ids are not kept.
    const attempt = funnelWrite();
    const [taken] = funnel.steps;
    if (!taken) throw new Error("no step");
    const refused = await upsertFunnel(db, b, {
      ...attempt,
      steps: [...attempt.steps, { ...taken, position: 9 }],
    });
    expect(refused).toEqual({ refused: "id_taken", entity: "steps", ids: [taken.id] });
    expect((await upsertFunnel(db, c, attempt)).refused).toBeNull();
  });

  it("lists every taken id, another account's and another funnel's of the same account alike", async () => {
    const { db } = handle;
    const a = await newAccount(db);
    const b = await newAccount(db);
    const theirs = funnelWrite();
    await upsertFunnel(db, a, theirs);
    await deleteFunnel(db, a, theirs.id);
    const mine = funnelWrite();
    await upsertFunnel(db, b, mine);
    const [released] = theirs.steps;
    const [sibling] = mine.steps;
    if (!released || !sibling) throw new Error("no step");
    const result = await upsertFunnel(db, b, {
      ...funnelWrite(),
      steps: [
        { ...sibling, position: 1 },
        { ...released, position: 2 },
        { id: randomUUID(), name: "New", stepType: "sales", position: 3 },
      ],
    });
    expect(result).toEqual({ refused: "id_taken", entity: "steps", ids: [sibling.id, released.id] });
  });

  it("gives a new id claimed by two accounts at once to exactly one of them", async () => {
    const { db } = handle;
    const a = await newAccount(db);
    const b = await newAccount(db);
    for (let round = 0; round < 5; round++) {
      const shared = funnelWrite();
      const results = await Promise.all([
        upsertFunnel(db, a, { ...funnelWrite(), id: shared.id, steps: shared.steps }),
        upsertFunnel(db, b, { ...funnelWrite(), id: shared.id, steps: shared.steps }),
      ]);
      expect(results.filter((r) => r.refused === null)).toHaveLength(1);
      const owners = await queryRows<{ account_id: string; kind: string }>(
        db,
        sql`select account_id, kind from catalog_ids
          where id in (${shared.id}::uuid, ${shared.steps[0]?.id}::uuid, ${shared.steps[1]?.id}::uuid)`,
      );
      expect(owners).toHaveLength(3);
      expect(new Set(owners.map((o) => o.account_id)).size).toBe(1);
    }
  });
});

/** The migration's statements that fill catalog_ids, as drizzle runs them. */
function backfillStatements(): string[] {
  const file = readdirSync(migrationsFolder).find((f) => /^\d+_catalog_ids\.sql$/.test(f));
  if (!file) throw new Error("no catalog_ids migration");
  return readFileSync(join(migrationsFolder, file), "utf8")
    .split("--> statement-breakpoint")
    .filter((s) => /insert into "catalog_ids"/i.test(s));
}

describe("the catalog_ids migration", () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase();
  });
  afterAll(() => test?.drop());

  it("binds today's catalog ids to their accounts, and a deleted funnel's id to the first account that stored its events", async () => {
    const { db } = test.handle;
    const a = await newAccount(db);
    const b = await newAccount(db);
    const live = funnelWrite();
    const abTest = testWrite(live);
    await db.insert(funnels).values({ id: live.id, accountId: a, name: live.name });
    await db.insert(funnelSteps).values(live.steps.map((s) => ({ ...s, funnelId: live.id })));
    await db.insert(pages).values((live.pages ?? []).map((p) => ({ ...p, funnelId: live.id })));
    const { variants, ...testRow } = abTest;
    await db.insert(abTests).values({ ...testRow, accountId: a });
    await db.insert(abTestVariants).values(variants.map((v) => ({ ...v, testId: abTest.id })));
    // Deleted before the migration: A's events first, then B's after B took the freed id.
    const released = randomUUID();
    // Taken over by B before the migration, and B's today: the live catalog keeps its owner.
    const reclaimed = randomUUID();
    await db.insert(funnels).values({ id: reclaimed, accountId: b, name: "reclaimed" });
    const event = (account: string, receivedAt: Date, funnelId = released) => ({
      eventId: randomUUID(),
      accountId: account,
      funnelId,
      eventType: "page_view",
      visitorId: randomUUID(),
      sessionId: "s",
      receivedAt,
      createdAt: new Date("2026-01-01T00:00:00Z"),
    });
    await db
      .insert(analyticsEvents)
      .values([
        event(b, new Date("2026-02-01T00:00:00Z")),
        event(a, new Date("2026-01-01T00:00:00Z")),
        event(b, new Date("2026-02-02T00:00:00Z")),
        event(a, new Date("2026-01-01T00:00:00Z"), reclaimed),
        event(b, new Date("2026-02-01T00:00:00Z"), reclaimed),
      ]);

    await db.execute(sql`delete from catalog_ids`);
    for (const statement of backfillStatements()) await db.execute(sql.raw(statement));

    const rows = await queryRows<{ kind: string; id: string; account_id: string }>(
      db,
      sql`select kind, id::text, account_id::text from catalog_ids order by kind, id`,
    );
    const expected = [
      { kind: "funnel", id: live.id, account_id: a },
      { kind: "funnel", id: released, account_id: a },
      { kind: "funnel", id: reclaimed, account_id: b },
      ...live.steps.map((s) => ({ kind: "step", id: s.id, account_id: a })),
      ...(live.pages ?? []).map((p) => ({ kind: "page", id: p.id, account_id: a })),
      { kind: "ab_test", id: abTest.id, account_id: a },
      ...variants.map((v) => ({ kind: "variant", id: v.id, account_id: a })),
    ];
    const order = (r: { kind: string; id: string }) => `${r.kind}/${r.id}`;
    expect(rows.sort((x, y) => order(x).localeCompare(order(y)))).toEqual(
      expected.sort((x, y) => order(x).localeCompare(order(y))),
    );
    // The released id is A's again: B's claim is refused as any other account's id.
    expect(await upsertFunnel(db, b, { ...funnelWrite(), id: released })).toEqual({
      refused: "not_found",
      entity: "funnel",
    });
  });
});
