import { z } from "zod";
import type { ForwardMessage } from "./forward/messages";
import type { IpRateLimiter } from "./rate-limit/ip-rate-limiter";

/** The worker's bindings, as wrangler.jsonc declares them. */
export interface Bindings {
  API_URL: string;
  EDGE_SIGNING_SECRET: string;
  RATE_LIMIT_EVENTS_PER_SECOND: string;
  FORWARD_RETRY_BASE_SECONDS: string;
  /** "false" where no Cloudflare edge sits in front (wrangler dev); unset on Cloudflare. */
  TRUST_CF_CONNECTING_IP?: string;
  RATE_LIMITER: DurableObjectNamespace<IpRateLimiter>;
  FORWARD_QUEUE: Queue<ForwardMessage>;
}

/** Hono's environment of every route: the bindings and the request id. */
export type EdgeEnv = { Bindings: Bindings; Variables: { requestId: string } };

/**
 * Every setting of the edge worker, parsed once per isolate from its bindings. Nothing else reads
 * the string vars; a bad one fails every request with one line per variable.
 */
const schema = z.object({
  /** Origin of the Node API that receives the signed batches at /internal/ingest. */
  API_URL: z.url({ message: "must be the API's http(s) origin" }),
  /** Shared with the API (same name there); batches are signed with it (HMAC-SHA256). */
  EDGE_SIGNING_SECRET: z.string().min(32, { message: "must be at least 32 characters" }),
  RATE_LIMIT_EVENTS_PER_SECOND: z.coerce.number().int().min(1).default(100),
  /** First retry delay of a batch the API did not take; doubles per attempt, at most 5 minutes. */
  FORWARD_RETRY_BASE_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
  /**
   * Whether CF-Connecting-IP is the client's address. On Cloudflare it is: the edge sets it and
   * overwrites any the client sent. Under `wrangler dev` nothing overwrites it, so a client could
   * choose the address it is counted and stored under: the dev script sets "false" there.
   */
  TRUST_CF_CONNECTING_IP: z
    .enum(["true", "false"], { message: 'must be "true" or "false"' })
    .default("true")
    .transform((v) => v === "true"),
});

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {}

const parsed = new WeakMap<object, Config>();

export function loadConfig(env: Bindings): Config {
  const cached = parsed.get(env);
  if (cached) return cached;
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "env"}: ${i.message}`);
    throw new ConfigError(`Invalid edge configuration:\n${lines.join("\n")}`);
  }
  parsed.set(env, result.data);
  return result.data;
}
