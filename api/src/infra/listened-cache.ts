import type { DatabaseHandle } from "@funnel/db/client";

/**
 * Entries an API process remembers while the database tells it of every change to them: LISTEN on
 * a channel that the writes notify in their transactions. The entries are trusted only while that
 * listening connection is up: from the moment it closes until it listens again, when it starts
 * empty, every `get` misses. An entry also expires after the ttl it was stored with, in case the
 * connection died without closing. A lookup reads `version()` before asking the database and hands
 * it to `store`, which keeps nothing if the cache was emptied or an entry forgotten meanwhile.
 * Used by the key cache (services/keys) and the catalog cache (services/catalog).
 */
export class ListenedCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  /** Bumped whenever something is forgotten: a lookup that began before must not be stored after. */
  private generation = 0;
  private listening = false;
  hits = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Listens on `channel` until the returned function is called; `onNotify` gets each payload. */
  follow(
    database: Pick<DatabaseHandle, "listen">,
    channel: string,
    onNotify: (payload: string) => void,
  ): () => Promise<void> {
    return database.listen(channel, {
      onNotify,
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

  get(key: string): V | undefined {
    if (!this.listening) return undefined;
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    this.hits++;
    return entry.value;
  }

  /** What `store` needs to know whether something was forgotten during the lookup. */
  version(): number {
    return this.generation;
  }

  /** Keeps what a lookup that started at `version` found, for `ttlMs`, unless a change came since. */
  store(key: string, value: V, ttlMs: number, version: number): void {
    if (!this.listening || version !== this.generation) return;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  forget(key: string): void {
    this.generation++;
    this.entries.delete(key);
  }

  forgetAll(): void {
    this.generation++;
    this.entries.clear();
  }
}
