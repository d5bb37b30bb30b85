import type { DatabaseHandle } from "@funnel/db/client";
import type { AccountScope } from "../../deps";
import { ListenedCache } from "../../infra/listened-cache";

/** The channel migration 0019's trigger notifies on every change or removal of an API key. */
export const KEY_CHANGES_CHANNEL = "funnel_api_keys";

const DEFAULT_TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;

/**
 * The keys this API process has resolved, so that a request does not ask the database which
 * account its key belongs to every time: under ingest that query was half the real-time view's
 * latency (`pnpm bench realtime`, p99 36–46 ms with it, 19–23 ms without).
 *
 * A revoked key must stop working at once, in every API process. The database tells each one
 * (LISTEN on `funnel_api_keys`, notified by a trigger in the transaction that changes or removes
 * a key, whoever makes the change), and the process forgets every key it knew. The cache is
 * trusted only while that listening connection is up: from the moment it closes until it listens
 * again, when it starts empty, every request asks the database. An entry is also dropped after
 * `ttlMs`, in case the connection died without closing. Unknown and revoked keys are never kept.
 */
export class KeyCache {
  private readonly cache: ListenedCache<AccountScope>;

  constructor(
    private readonly ttlMs = DEFAULT_TTL_MS,
    now: () => number = Date.now,
  ) {
    this.cache = new ListenedCache(MAX_ENTRIES, now);
  }

  /** Follows key changes on `database` until the returned function is called: any change empties the cache. */
  follow(database: Pick<DatabaseHandle, "listen">): () => Promise<void> {
    return this.cache.follow(database, KEY_CHANGES_CHANNEL, () => this.cache.forgetAll());
  }

  /** Whether entries are being used (the listening connection is up). */
  get trusted(): boolean {
    return this.cache.trusted;
  }

  get hits(): number {
    return this.cache.hits;
  }

  get(keyHash: string): AccountScope | undefined {
    return this.cache.get(keyHash);
  }

  /** What `store` needs to know whether the cache was emptied during the lookup. */
  version(): number {
    return this.cache.version();
  }

  /** Keeps a live key found by a lookup that started at `version`, unless a change came since. */
  store(keyHash: string, scope: AccountScope, version: number): void {
    this.cache.store(keyHash, scope, this.ttlMs, version);
  }

  forgetAll(): void {
    this.cache.forgetAll();
  }
}
