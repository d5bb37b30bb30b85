import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");

/** Provisions (or finds) TimescaleDB and Redis with the same script CI uses, and returns their URLs. */
export function servicesUp(): { databaseUrl: string; redisUrl: string } {
  const out = execFileSync("bash", [resolve(root, "scripts/services/up.sh")], { encoding: "utf8" });
  const value = (name: string) => {
    const line = out.split("\n").find((l) => l.startsWith(`${name}=`));
    if (!line) throw new Error(`scripts/services/up.sh did not print ${name}`);
    return line.slice(name.length + 1).trim();
  };
  return { databaseUrl: value("DATABASE_URL"), redisUrl: value("REDIS_URL") };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export const repoRoot = root;

/** Deletes every Redis key of a run's QUEUE_PREFIX (queues, cache, real-time store). */
export async function dropRedisPrefix(redisUrl: string, prefix: string): Promise<number> {
  const { Redis } = await import("ioredis");
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  let dropped = 0;
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1_000);
      cursor = next;
      if (keys.length > 0) dropped += await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return dropped;
}
