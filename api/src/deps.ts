import type { DatabaseHandle } from "@funnel/db/client";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "./config";
import type { Cache, IngestQueue, RateLimiter } from "./ports";
import type { RealtimeStore } from "./realtime/store";

/** Everything a route or service may reach, chosen once at boot (see boot.ts). */
export interface Deps {
  config: Config;
  database: DatabaseHandle;
  queue: IngestQueue;
  limiter: RateLimiter;
  cache: Cache;
  /** The real-time view's rolling picture per funnel, fed at ingest. */
  realtime: RealtimeStore;
  logger: Logger;
  metrics: Registry;
}

/** The authenticated caller of a keyed route. Every service query takes it, so none forgets the account. */
export interface AccountScope {
  accountId: string;
  keyId: string;
  notificationEmail: string | null;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    scope: AccountScope;
  };
}
