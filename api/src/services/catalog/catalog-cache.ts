import type { Database, DatabaseHandle } from "@funnel/db/client";
import { eq, inArray, sql } from "@funnel/db/orm";
import { funnelSteps, funnels } from "@funnel/db/schema";
import { ListenedCache } from "../../infra/listened-cache";

/** The channel every catalog write of a funnel notifies, in its transaction, with the funnel's id. */
export const CATALOG_CHANGES_CHANNEL = "funnel_catalog";

/** What accepting an event needs to know of its funnel: whose it is and which steps it has. */
export interface KnownFunnel {
  accountId: string;
  /** Lower case, as the database prints UUIDs. */
  stepIds: ReadonlySet<string>;
}

/**
 * What the catalog says of each funnel id asked for: the funnel, `null` when there is no such
 * funnel, and no entry when the catalog could not be read in time (nothing is then known of it).
 */
export type FunnelLookup = Map<string, KnownFunnel | null>;

export interface CatalogCacheOptions {
  /** How long a funnel found is trusted without a notification (in case the listening died unseen). */
  ttlMs?: number;
  /** How long a funnel NOT found is remembered: only rows written outside the services tell no one. */
  unknownTtlMs?: number;
  /** How long an answer waits for the database before it is given without the catalog. */
  lookupDeadlineMs?: number;
  now?: () => number;
}

const MAX_ENTRIES = 10_000;
/**
 * Lookups that may wait on the database at once: with the database paused or gone, requests beyond
 * them are answered at once without the catalog, instead of each holding a pooled connection.
 */
const MAX_LOOKUPS_IN_FLIGHT = 2;

/**
 * The funnels this API process has looked up, so that accepting events can say which of them will
 * not be counted (unknown funnel, unknown step) without asking the database every time.
 *
 * Like the key cache (services/keys/key-cache.ts): every catalog write of a funnel notifies
 * `funnel_catalog` in its transaction (put-funnel.ts, delete-funnel.ts), each API process LISTENs
 * and forgets that funnel when the write commits, and entries are trusted only while that
 * connection is up. Accepting events must never wait on the database, which it does not otherwise
 * need: a lookup that takes longer than `lookupDeadlineMs`, or fails, leaves the funnels unchecked.
 */
export class CatalogCache {
  private readonly cache: ListenedCache<KnownFunnel | null>;
  private inFlight = 0;
  private readonly ttlMs: number;
  private readonly unknownTtlMs: number;
  private readonly lookupDeadlineMs: number;

  constructor(options: CatalogCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.unknownTtlMs = options.unknownTtlMs ?? 5_000;
    this.lookupDeadlineMs = options.lookupDeadlineMs ?? 500;
    this.cache = new ListenedCache(MAX_ENTRIES, options.now);
  }

  /** Follows catalog writes on `database` until the returned function is called: each forgets its funnel. */
  follow(database: Pick<DatabaseHandle, "listen">): () => Promise<void> {
    return this.cache.follow(database, CATALOG_CHANGES_CHANNEL, (funnelId) => this.forget(funnelId));
  }

  /** Whether entries are being used (the listening connection is up). */
  get trusted(): boolean {
    return this.cache.trusted;
  }

  get hits(): number {
    return this.cache.hits;
  }

  /** The funnels of `ids` (UUIDs), from memory or the database; see `FunnelLookup`. */
  async lookup(database: Pick<DatabaseHandle, "db">, ids: readonly string[]): Promise<FunnelLookup> {
    const found: FunnelLookup = new Map();
    const missing: string[] = [];
    for (const id of new Set(ids.map((i) => i.toLowerCase()))) {
      const funnel = this.cache.get(id);
      if (funnel !== undefined) found.set(id, funnel);
      else missing.push(id);
    }
    if (missing.length === 0 || this.inFlight >= MAX_LOOKUPS_IN_FLIGHT) return found;
    const version = this.cache.version();
    this.inFlight++;
    const read = readFunnels(database.db, missing).finally(() => this.inFlight--);
    const rows = await withDeadline(read, this.lookupDeadlineMs);
    if (!rows) return found;
    for (const id of missing) {
      const funnel = rows.get(id) ?? null;
      found.set(id, funnel);
      this.cache.store(id, funnel, funnel ? this.ttlMs : this.unknownTtlMs, version);
    }
    return found;
  }

  /** Drops one funnel (a write of it committed); a lookup under way is not stored either. */
  forget(funnelId: string): void {
    this.cache.forget(funnelId.toLowerCase());
  }

  forgetAll(): void {
    this.cache.forgetAll();
  }
}

/**
 * Tells every API process that the funnel changed, in the caller's transaction: they hear it when
 * it commits, and not at all when it rolls back.
 */
export async function notifyCatalogChange(tx: Database, funnelId: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${CATALOG_CHANGES_CHANNEL}, ${funnelId.toLowerCase()})`);
}

/**
 * The funnels among `ids` with their steps. Not keyed by account: a browser's event names only its
 * funnel, whose row says the account (each id is bound to one account for good, catalog_ids).
 */
async function readFunnels(db: Database, ids: string[]): Promise<Map<string, KnownFunnel>> {
  const rows = await db
    .select({ id: funnels.id, accountId: funnels.accountId, stepId: funnelSteps.id })
    .from(funnels)
    .leftJoin(funnelSteps, eq(funnelSteps.funnelId, funnels.id))
    .where(inArray(funnels.id, ids));
  const found = new Map<string, { accountId: string; stepIds: Set<string> }>();
  for (const row of rows) {
    const id = row.id.toLowerCase();
    let funnel = found.get(id);
    if (!funnel) {
      funnel = { accountId: row.accountId, stepIds: new Set() };
      found.set(id, funnel);
    }
    if (row.stepId) funnel.stepIds.add(row.stepId.toLowerCase());
  }
  return found;
}

/** `work`'s result, or undefined when it fails or takes longer than `ms` (it then runs on alone). */
async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  try {
    return await Promise.race([work.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}
