import { resolve } from "node:path";
import { z } from "zod";

/**
 * Every setting of the API process, parsed once at start. Nothing else reads `process.env`.
 * With neither DATABASE_URL nor REDIS_URL the process runs the embedded default.
 */
const schema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
    HOST: z.string().default("0.0.0.0"),
    DATABASE_URL: z.url({ message: "must be a postgres:// URL" }).optional(),
    REDIS_URL: z.url({ message: "must be a redis:// URL" }).optional(),
    /** Where the embedded default keeps its PGlite data and outbox; relative to where pnpm was typed. */
    DATA_DIR: z.string().default(".data"),
    /** Set by pnpm to the directory the command was typed in (scripts themselves run inside a package). */
    INIT_CWD: z.string().optional(),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /** Header a trusted reverse proxy sets to the client IP (e.g. x-forwarded-for); unset: the socket peer. */
    CLIENT_IP_HEADER: z
      .string()
      .transform((v) => v.toLowerCase())
      .optional(),
    /** With x-forwarded-for: how many proxies you run in front of the API (the address that many from the right). */
    TRUSTED_PROXY_HOPS: z.coerce.number().int().min(1).max(10).default(1),
    RATE_LIMIT_EVENTS_PER_SECOND: z.coerce.number().int().min(1).default(100),
    /** Shared with the edge worker; batches it forwards are signed with it (HMAC-SHA256). */
    EDGE_SIGNING_SECRET: z.string().min(32, { message: "must be at least 32 characters" }).optional(),
    /** Largest accepted request body, in bytes, for /track (import allows 10,000 events). */
    TRACK_BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(256 * 1024),
    IMPORT_BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(32 * 1024 * 1024),
    DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
    /** Deadline of every database statement and of every wait for a pooled connection. */
    DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
    /** Run the ingest worker inside the API process (pnpm dev, embedded default) or not (separate worker). */
    RUN_WORKER: z
      .enum(["true", "false"])
      .default("true")
      .transform((v) => v === "true"),
    RUN_API: z
      .enum(["true", "false"])
      .default("true")
      .transform((v) => v === "true"),
    /** Ingest jobs a worker process holds at once; those waiting for a write go out together. */
    INGEST_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(64),
    /** Least time between two writes of queue jobs by one API process: evenly arriving events share jobs. */
    INGEST_ENQUEUE_INTERVAL_MS: z.coerce.number().min(0).max(100).default(2),
    /** Niceness a worker-only process (RUN_API=false) gives itself: requests come first on a shared host. */
    WORKER_NICE: z.coerce.number().int().min(0).max(19).default(10),
    /** Deadline of every Redis command of the request path (ingest queue writes, rate limit, cache). */
    REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
    /** Event writes (transactions) a worker process has in flight at once. */
    INGEST_WRITERS: z.coerce.number().int().min(1).max(8).default(2),
    /** Least time between the starts of two event writes, unless a full write waits or every job the worker may hold is in: a trickle shares writes. */
    INGEST_WRITE_INTERVAL_MS: z.coerce.number().int().min(0).max(5_000).default(100),
    /** Rollup derivations a worker process runs at once (each a transaction on one lane of the backlog). */
    DERIVE_CONCURRENCY: z.coerce.number().int().min(1).max(8).default(2),
    /** Backlog rows one derivation takes at most (its rollups' unit locks must fit the server's lock table). */
    DERIVE_MAX_EVENTS: z.coerce.number().int().min(1).max(100_000).default(4_000),
    /** How long a deriver with nothing to do waits before looking at the backlog again. */
    DERIVE_IDLE_MS: z.coerce.number().int().min(5).max(5_000).default(100),
    /** How long a computed report is served from the cache; it states its own `data_through` (derive.ts). */
    REPORT_CACHE_SECONDS: z.coerce.number().int().min(0).max(3_600).default(2),
    /** When set, GET /metrics asks for `Authorization: Bearer <METRICS_TOKEN>`; unset, it is open. */
    METRICS_TOKEN: z.string().min(16, { message: "must be at least 16 characters" }).optional(),
    /** Name prefix of the BullMQ queues and Redis keys, so several deployments can share a Redis. */
    QUEUE_PREFIX: z.string().default("funnel"),
    /** Seed a demo account, funnels and events in the embedded default when the database is empty. */
    SEED_DEMO: z
      .enum(["true", "false"])
      .default("true")
      .transform((v) => v === "true"),
    /** Signs export download links (HMAC-SHA256); unset: generated once into DATA_DIR (required in production). */
    EXPORT_SIGNING_SECRET: z.string().min(32, { message: "must be at least 32 characters" }).optional(),
    /** Where export files are kept for 24 hours; default DATA_DIR/exports. API and workers must share it. */
    EXPORT_DIR: z.string().optional(),
    /** Export jobs rendered at once per worker process. */
    EXPORT_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(1),
    /** Exports one account may have queued or running at once; one more is a 429, so a burst of one account cannot hold up the others'. */
    EXPORT_QUEUED_PER_ACCOUNT: z.coerce.number().int().min(1).max(1_000).default(5),
    /** smtp:// or smtps:// URL for "export ready" mail; unset: each message is written to DATA_DIR/outbox. */
    SMTP_URL: z.url({ protocol: /^smtps?$/, message: "must be an smtp:// or smtps:// URL" }).optional(),
    EXPORT_MAIL_FROM: z.string().default("Funnel analytics <exports@localhost>"),
    /** Base URL of the API as users reach it, for links in mail; default http://localhost:PORT. */
    PUBLIC_URL: z.url({ protocol: /^https?$/, message: "must be an http(s):// URL" }).optional(),
  })
  .refine((c) => (c.DATABASE_URL === undefined) === (c.REDIS_URL === undefined), {
    message: "set both DATABASE_URL and REDIS_URL for production, or neither for the embedded default",
    path: ["DATABASE_URL"],
  });

/** EXPORT_DIR is always resolved: the setting, or DATA_DIR/exports. */
export type Config = Omit<z.infer<typeof schema>, "EXPORT_DIR"> & { EXPORT_DIR: string };

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = schema.safeParse(env);
  if (parsed.success) {
    const cwd = parsed.data.INIT_CWD ?? process.cwd();
    const dataDir = resolve(cwd, parsed.data.DATA_DIR);
    return {
      ...parsed.data,
      DATA_DIR: dataDir,
      EXPORT_DIR:
        parsed.data.EXPORT_DIR === undefined
          ? resolve(dataDir, "exports")
          : resolve(cwd, parsed.data.EXPORT_DIR),
    };
  }
  const lines = parsed.error.issues.map((i) => `  ${i.path.join(".") || "env"}: ${i.message}`);
  throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
}

export function isEmbedded(config: Config): boolean {
  return config.DATABASE_URL === undefined;
}
