import type { DatabaseHandle } from "@funnel/db/client";
import type { AccountScope } from "../../deps";

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
  private readonly entries = new Map<string, { scope: AccountScope; expiresAt: number }>();
  /** Bumped whenever the cache is emptied: a lookup that began before must not be stored after. */
  private generation = 0;
  private listening = false;
  hits = 0;

  constructor(
    private readonly ttlMs = DEFAULT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Follows key changes on `database` until the returned function is called. */
  follow(database: Pick<DatabaseHandle, "listen">): () => Promise<void> {
    return database.listen(KEY_CHANGES_CHANNEL, {
      onNotify: () => this.forgetAll(),
      onListen: () => {
        this.forgetAll();
        this.listening = true;
      },
      onLost: () => {
        this.listening = false;
        this.forgetAll();
      },
    });
  }

  /** Whether entries are being used (the listening connection is up). */
  get trusted(): boolean {
    return this.listening;
  }

  get(keyHash: string): AccountScope | undefined {
    if (!this.listening) return undefined;
    const entry = this.entries.get(keyHash);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(keyHash);
      return undefined;
    }
    this.hits++;
    return entry.scope;
  }

  /** What `store` needs to know whether the cache was emptied during the lookup. */
  version(): number {
    return this.generation;
  }

  /** Keeps a live key found by a lookup that started at `version`, unless a change came since. */
  store(keyHash: string, scope: AccountScope, version: number): void {
    if (!this.listening || version !== this.generation) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(keyHash, { scope, expiresAt: this.now() + this.ttlMs });
  }

  forgetAll(): void {
    this.generation++;
    this.entries.clear();
  }
}
