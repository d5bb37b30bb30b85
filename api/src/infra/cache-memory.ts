import type { Cache } from "../ports";

/** In-process cache for the embedded default: same contract as the Redis one. */
export class MemoryCache implements Cache {
  private readonly entries = new Map<string, { value: unknown; expiresAt: number }>();

  async get<T>(key: string): Promise<T | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value as T;
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    // Copy through JSON so callers see what a Redis round trip would give them.
    this.entries.set(key, {
      value: JSON.parse(JSON.stringify(value)),
      expiresAt: Date.now() + ttlSeconds * 1000,
    });
  }

  async claim(key: string, ttlSeconds: number): Promise<boolean> {
    // No await between the check and the write: two concurrent claims cannot both win.
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > Date.now()) return false;
    this.entries.set(key, { value: true, expiresAt: Date.now() + ttlSeconds * 1000 });
    return true;
  }

  async deleteByPrefix(prefix: string): Promise<void> {
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }
}
