import type { Redis } from "ioredis";
import type { Cache } from "../ports";

/** Report and real-time cache in Redis, JSON values under one key prefix. */
export class RedisCache implements Cache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async get<T>(key: string): Promise<T | undefined> {
    const raw = await this.redis.get(this.prefix + key);
    return raw === null ? undefined : (JSON.parse(raw) as T);
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.prefix + key, JSON.stringify(value), "PX", Math.round(ttlSeconds * 1000));
  }

  async claim(key: string, ttlSeconds: number): Promise<boolean> {
    const set = await this.redis.set(this.prefix + key, "1", "PX", Math.round(ttlSeconds * 1000), "NX");
    return set === "OK";
  }

  async deleteByPrefix(prefix: string): Promise<void> {
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", `${this.prefix}${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await this.redis.unlink(...keys);
    } while (cursor !== "0");
  }
}
