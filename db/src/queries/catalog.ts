import { and, asc, eq, inArray, ne, notInArray, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import type { Database } from "../client";
import {
  abTests,
  abTestVariants,
  type CatalogIdKind,
  catalogIds,
  funnelSteps,
  funnels,
  pages,
} from "../schema";

/**
 * The catalog the funnel builder pushes: funnels with their steps and pages, and A/B tests with
 * their variants. Every function takes the account id: a row of another account is never read,
 * changed or deleted, and an id another account uses, or ever used, is never taken over.
 *
 * Ids are chosen by the client and public (tracked pages carry them), and a deleted funnel's events
 * stay stored under its id. So every id an upsert writes is bound to its account in catalog_ids,
 * and deletes leave that binding: a released id is refused to another account exactly as a live
 * one (the same refusal, so the answer does not tell that the id was released), and only its owner
 * may use it again, finding its history under it.
 */

export type FunnelRow = typeof funnels.$inferSelect;
export type StepRow = typeof funnelSteps.$inferSelect;
export type PageRow = typeof pages.$inferSelect;
export type AbTestRow = typeof abTests.$inferSelect;
export type VariantRow = typeof abTestVariants.$inferSelect;

export interface FunnelRecord extends FunnelRow {
  /** In position order. */
  steps: StepRow[];
  pages: PageRow[];
}

export interface AbTestRecord extends AbTestRow {
  variants: VariantRow[];
}

export interface FunnelWrite {
  id: string;
  name: string;
  steps: { id: string; name: string; stepType: string; position: number }[];
  /** Absent: the funnel's pages stay as they are. */
  pages?: { id: string; name: string; url: string | null }[] | undefined;
}

export interface AbTestWrite {
  id: string;
  funnelId: string;
  testName: string;
  status: string;
  startedAt: Date;
  completedAt: Date | null;
  variants: {
    id: string;
    variantName: string;
    isControl: boolean;
    pageId: string;
    trafficSplit: number;
  }[];
}

/** Why an upsert of a funnel changed nothing. The transaction is rolled back. */
export type FunnelRefusal =
  /** The funnel id is, or was, another account's. */
  | { refused: "not_found"; entity: "funnel" }
  /** Step or page ids used by another funnel, or ever used by another account. */
  | { refused: "id_taken"; entity: "steps" | "pages"; ids: string[] };

/** Why an upsert of an A/B test changed nothing. The transaction is rolled back. */
export type AbTestRefusal =
  /** The funnel is not the account's, or the test id is, or was, another account's. */
  | { refused: "not_found"; entity: "funnel" | "ab_test" }
  /** Variant ids used by another test, or ever used by another account. */
  | { refused: "id_taken"; entity: "variants"; ids: string[] }
  /** Variant pages that are not pages of the test's funnel. */
  | { refused: "unknown_pages"; ids: string[] };

export type CatalogWriteResult<T, R> = { refused: null; record: T } | R;

class Refused extends Error {
  constructor(readonly refusal: unknown) {
    super("catalog write refused");
  }
}

/** Runs `work` in a transaction; a refusal rolls it back and is returned rather than thrown. */
async function refusable<T, R>(
  db: Database,
  work: (tx: Database, refuse: (refusal: R) => never) => Promise<T>,
): Promise<CatalogWriteResult<T, R>> {
  const refuse = (refusal: R): never => {
    throw new Refused(refusal);
  };
  try {
    return { refused: null, record: await db.transaction((tx) => work(tx, refuse)) };
  } catch (error) {
    // Only `refuse` of this call throws a Refused inside `work`.
    if (error instanceof Refused) return error.refusal as R;
    throw error;
  }
}

// --- Funnels ----------------------------------------------------------------------------------

/** Creates or replaces a funnel of the account, with exactly the steps (and pages, when given) listed. */
export function upsertFunnel(
  db: Database,
  accountId: string,
  funnel: FunnelWrite,
): Promise<CatalogWriteResult<FunnelRecord, FunnelRefusal>> {
  return refusable<FunnelRecord, FunnelRefusal>(db, async (tx, refuse) => {
    if ((await claimIds(tx, accountId, "funnel", [funnel.id])).size > 0) {
      return refuse({ refused: "not_found", entity: "funnel" });
    }
    const [row] = await tx
      .insert(funnels)
      .values({ id: funnel.id, accountId, name: funnel.name })
      .onConflictDoUpdate({
        target: funnels.id,
        set: { name: funnel.name, updatedAt: sql`now()` },
        // Another account's funnel is left alone, and the upsert then returns no row.
        setWhere: eq(funnels.accountId, accountId),
      })
      .returning();
    if (!row) return refuse({ refused: "not_found", entity: "funnel" });

    const stepIds = funnel.steps.map((s) => s.id);
    const foreignSteps = await claimIds(tx, accountId, "step", stepIds);
    await tx
      .delete(funnelSteps)
      .where(and(eq(funnelSteps.funnelId, funnel.id), notIn(funnelSteps.id, stepIds)));
    if (funnel.steps.length > 0) {
      const steps = await tx
        .insert(funnelSteps)
        .values(funnel.steps.map((s) => ({ ...s, funnelId: funnel.id })))
        .onConflictDoUpdate({
          target: funnelSteps.id,
          set: {
            name: sql`excluded.name`,
            stepType: sql`excluded.step_type`,
            position: sql`excluded.position`,
          },
          setWhere: eq(funnelSteps.funnelId, funnel.id),
        })
        .returning();
      const taken = missing(stepIds, steps, foreignSteps);
      if (taken.length > 0) return refuse({ refused: "id_taken", entity: "steps", ids: taken });
    }

    if (funnel.pages !== undefined) {
      const pageIds = funnel.pages.map((p) => p.id);
      const foreignPages = await claimIds(tx, accountId, "page", pageIds);
      await tx.delete(pages).where(and(eq(pages.funnelId, funnel.id), notIn(pages.id, pageIds)));
      if (funnel.pages.length > 0) {
        const stored = await tx
          .insert(pages)
          .values(funnel.pages.map((p) => ({ ...p, funnelId: funnel.id })))
          .onConflictDoUpdate({
            target: pages.id,
            set: { name: sql`excluded.name`, url: sql`excluded.url` },
            setWhere: eq(pages.funnelId, funnel.id),
          })
          .returning();
        const taken = missing(pageIds, stored, foreignPages);
        if (taken.length > 0) return refuse({ refused: "id_taken", entity: "pages", ids: taken });
      }
    }
    return withChildren(tx, row);
  });
}

/** `column NOT IN (ids)`, true for no ids (every row of the parent goes). */
function notIn(column: AnyPgColumn, ids: string[]): SQL | undefined {
  return ids.length === 0 ? undefined : notInArray(column, ids);
}

/**
 * The wanted ids that may not be stored: those of `foreign` (another account's), and those the
 * upsert did not store (another parent's rows with those ids). As sent, in the order sent.
 */
function missing(
  wanted: string[],
  stored: { id: string }[],
  foreign: ReadonlySet<string> = new Set(),
): string[] {
  // The database answers uuids in lower case; a client may send them in upper case.
  const got = new Set(stored.map((r) => r.id.toLowerCase()));
  return wanted.filter((id) => foreign.has(id.toLowerCase()) || !got.has(id.toLowerCase()));
}

/**
 * Binds each id of `kind` to the account unless an account bound it first, and returns the ids
 * bound to another account (lower case): those the account may not use. In the caller's
 * transaction, so a refused write binds nothing; a concurrent claim of the same new id waits on the
 * first one's row and then finds it taken.
 */
async function claimIds(
  tx: Database,
  accountId: string,
  kind: CatalogIdKind,
  ids: string[],
): Promise<Set<string>> {
  // Sorted: writes that share ids claim them in one order, so they cannot deadlock on them.
  const unique = [...new Set(ids.map((id) => id.toLowerCase()))].sort();
  if (unique.length === 0) return new Set();
  await tx
    .insert(catalogIds)
    .values(unique.map((id) => ({ kind, id, accountId })))
    .onConflictDoNothing();
  const foreign = await tx
    .select({ id: catalogIds.id })
    .from(catalogIds)
    .where(
      and(eq(catalogIds.kind, kind), inArray(catalogIds.id, unique), ne(catalogIds.accountId, accountId)),
    );
  return new Set(foreign.map((r) => r.id.toLowerCase()));
}

export async function getFunnel(
  db: Database,
  accountId: string,
  funnelId: string,
): Promise<FunnelRecord | null> {
  const [row] = await db
    .select()
    .from(funnels)
    .where(and(eq(funnels.id, funnelId), eq(funnels.accountId, accountId)));
  return row ? withChildren(db, row) : null;
}

/** The account's funnels, oldest first. */
export async function listFunnels(db: Database, accountId: string): Promise<FunnelRecord[]> {
  const rows = await db
    .select()
    .from(funnels)
    .where(eq(funnels.accountId, accountId))
    .orderBy(asc(funnels.createdAt), asc(funnels.id));
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const [steps, pageRows] = await Promise.all([
    db
      .select()
      .from(funnelSteps)
      .where(inArray(funnelSteps.funnelId, ids))
      .orderBy(asc(funnelSteps.position), asc(funnelSteps.id)),
    db.select().from(pages).where(inArray(pages.funnelId, ids)).orderBy(asc(pages.name), asc(pages.id)),
  ]);
  return rows.map((row) => ({
    ...row,
    steps: steps.filter((s) => s.funnelId === row.id),
    pages: pageRows.filter((p) => p.funnelId === row.id),
  }));
}

/**
 * Deletes the funnel with its steps, pages and tests; false when the account has no such funnel.
 * Their ids stay bound to the account (catalog_ids): its events stay too.
 */
export async function deleteFunnel(db: Database, accountId: string, funnelId: string): Promise<boolean> {
  const deleted = await db
    .delete(funnels)
    .where(and(eq(funnels.id, funnelId), eq(funnels.accountId, accountId)))
    .returning({ id: funnels.id });
  return deleted.length > 0;
}

async function withChildren(db: Database, row: FunnelRow): Promise<FunnelRecord> {
  const [steps, pageRows] = await Promise.all([
    db
      .select()
      .from(funnelSteps)
      .where(eq(funnelSteps.funnelId, row.id))
      .orderBy(asc(funnelSteps.position), asc(funnelSteps.id)),
    db.select().from(pages).where(eq(pages.funnelId, row.id)).orderBy(asc(pages.name), asc(pages.id)),
  ]);
  return { ...row, steps, pages: pageRows };
}

// --- A/B tests --------------------------------------------------------------------------------

/** Creates or replaces a test of the account, with exactly the variants listed. */
export function upsertAbTest(
  db: Database,
  accountId: string,
  test: AbTestWrite,
): Promise<CatalogWriteResult<AbTestRecord, AbTestRefusal>> {
  return refusable<AbTestRecord, AbTestRefusal>(db, async (tx, refuse) => {
    // The funnel's row is locked so that it cannot be deleted or re-paged under the test.
    const [funnel] = await tx
      .select({ id: funnels.id })
      .from(funnels)
      .where(and(eq(funnels.id, test.funnelId), eq(funnels.accountId, accountId)))
      .for("share");
    if (!funnel) return refuse({ refused: "not_found", entity: "funnel" });

    // The service refuses a test without variants; an empty IN list is not valid SQL.
    if (test.variants.length === 0) throw new Error("upsertAbTest: a test needs variants");
    const pageIds = [...new Set(test.variants.map((v) => v.pageId))];
    const known = await tx
      .select({ id: pages.id })
      .from(pages)
      .where(and(eq(pages.funnelId, test.funnelId), inArray(pages.id, pageIds)));
    const unknownPages = missing(pageIds, known);
    if (unknownPages.length > 0) return refuse({ refused: "unknown_pages", ids: unknownPages });

    const fields = {
      funnelId: test.funnelId,
      testName: test.testName,
      status: test.status,
      startedAt: test.startedAt,
      completedAt: test.completedAt,
    };
    if ((await claimIds(tx, accountId, "ab_test", [test.id])).size > 0) {
      return refuse({ refused: "not_found", entity: "ab_test" });
    }
    const [row] = await tx
      .insert(abTests)
      .values({ id: test.id, accountId, ...fields })
      .onConflictDoUpdate({ target: abTests.id, set: fields, setWhere: eq(abTests.accountId, accountId) })
      .returning();
    if (!row) return refuse({ refused: "not_found", entity: "ab_test" });

    const variantIds = test.variants.map((v) => v.id);
    const foreignVariants = await claimIds(tx, accountId, "variant", variantIds);
    await tx
      .delete(abTestVariants)
      .where(and(eq(abTestVariants.testId, test.id), notIn(abTestVariants.id, variantIds)));
    const variants = await tx
      .insert(abTestVariants)
      .values(test.variants.map((v) => ({ ...v, testId: test.id })))
      .onConflictDoUpdate({
        target: abTestVariants.id,
        set: {
          variantName: sql`excluded.variant_name`,
          isControl: sql`excluded.is_control`,
          pageId: sql`excluded.page_id`,
          trafficSplit: sql`excluded.traffic_split`,
        },
        setWhere: eq(abTestVariants.testId, test.id),
      })
      .returning();
    const taken = missing(variantIds, variants, foreignVariants);
    if (taken.length > 0) return refuse({ refused: "id_taken", entity: "variants", ids: taken });

    // A declared winner that is no longer a variant of the test is no winner.
    if (row.winnerVariantId !== null && !variantIds.includes(row.winnerVariantId)) {
      await tx.update(abTests).set({ winnerVariantId: null }).where(eq(abTests.id, test.id));
      row.winnerVariantId = null;
    }
    return { ...row, variants: sortVariants(variants) };
  });
}

export async function getAbTest(
  db: Database,
  accountId: string,
  testId: string,
): Promise<AbTestRecord | null> {
  const [row] = await db
    .select()
    .from(abTests)
    .where(and(eq(abTests.id, testId), eq(abTests.accountId, accountId)));
  if (!row) return null;
  const variants = await db.select().from(abTestVariants).where(eq(abTestVariants.testId, row.id));
  return { ...row, variants: sortVariants(variants) };
}

/** The account's tests, optionally of one funnel, oldest first. */
export async function listAbTests(
  db: Database,
  accountId: string,
  filter: { funnelId?: string | undefined } = {},
): Promise<AbTestRecord[]> {
  const rows = await db
    .select()
    .from(abTests)
    .where(
      and(
        eq(abTests.accountId, accountId),
        filter.funnelId === undefined ? undefined : eq(abTests.funnelId, filter.funnelId),
      ),
    )
    .orderBy(asc(abTests.startedAt), asc(abTests.id));
  if (rows.length === 0) return [];
  const variants = await db
    .select()
    .from(abTestVariants)
    .where(
      inArray(
        abTestVariants.testId,
        rows.map((r) => r.id),
      ),
    );
  return rows.map((row) => ({ ...row, variants: sortVariants(variants.filter((v) => v.testId === row.id)) }));
}

/** Deletes the test with its variants; their ids stay bound to the account (catalog_ids). */
export async function deleteAbTest(db: Database, accountId: string, testId: string): Promise<boolean> {
  const deleted = await db
    .delete(abTests)
    .where(and(eq(abTests.id, testId), eq(abTests.accountId, accountId)))
    .returning({ id: abTests.id });
  return deleted.length > 0;
}

/** Control first, then by name: a stable order for responses and reports. */
function sortVariants(variants: VariantRow[]): VariantRow[] {
  return [...variants].sort(
    (a, b) =>
      Number(b.isControl) - Number(a.isControl) ||
      a.variantName.localeCompare(b.variantName) ||
      a.id.localeCompare(b.id),
  );
}
