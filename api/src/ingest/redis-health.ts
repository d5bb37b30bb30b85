import type { Redis } from "ioredis";
import type { QueueHealth } from "../ports";

/**
 * Whether Redis keeps what BullMQ acknowledged. A 202 is only honest if a queued job survives:
 * with an eviction policy other than `noeviction` Redis may drop job keys under memory pressure,
 * and without AOF or RDB snapshots a restart empties the queue.
 */
export async function redisQueueHealth(redis: Redis, timeoutMs = 2_000): Promise<QueueHealth> {
  try {
    await withTimeout(redis.ping(), timeoutMs);
  } catch (error) {
    return { reachable: false, durable: false, warnings: [`redis unreachable: ${message(error)}`] };
  }
  const warnings: string[] = [];
  const settings = await withTimeout(readSettings(redis), timeoutMs).catch(() => null);
  if (settings === null) {
    warnings.push("cannot read redis maxmemory-policy and persistence settings (CONFIG and INFO refused)");
    return { reachable: true, durable: false, warnings };
  }
  if (settings.maxmemoryPolicy !== "noeviction") {
    warnings.push(
      `redis maxmemory-policy is ${settings.maxmemoryPolicy}: queued jobs can be evicted; set it to noeviction`,
    );
  }
  if (!settings.appendonly && !settings.rdbSave) {
    warnings.push(
      "redis persistence is off (appendonly no, no RDB save points): a restart loses queued jobs",
    );
  }
  return { reachable: true, durable: warnings.length === 0, warnings };
}

interface PersistenceSettings {
  maxmemoryPolicy: string;
  appendonly: boolean;
  rdbSave: boolean;
}

async function readSettings(redis: Redis): Promise<PersistenceSettings | null> {
  try {
    const [policy, aof, save] = await Promise.all([
      redis.config("GET", "maxmemory-policy"),
      redis.config("GET", "appendonly"),
      redis.config("GET", "save"),
    ]);
    return {
      maxmemoryPolicy: String(policy[1] ?? ""),
      appendonly: String(aof[1] ?? "") === "yes",
      rdbSave: String(save[1] ?? "").trim() !== "",
    };
  } catch {
    // Managed Redis often disables CONFIG; INFO tells the policy and whether AOF is on.
    try {
      const info = (await redis.info("memory")) + (await redis.info("persistence"));
      const field = (name: string) => new RegExp(`^${name}:(.*)$`, "m").exec(info)?.[1]?.trim();
      const policy = field("maxmemory_policy");
      if (policy === undefined) return null;
      return {
        maxmemoryPolicy: policy,
        appendonly: field("aof_enabled") === "1",
        // INFO does not show save points; a snapshot that has run means they are configured.
        rdbSave: Number(field("rdb_last_bgsave_time_sec") ?? "-1") >= 0,
      };
    } catch {
      return null;
    }
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
