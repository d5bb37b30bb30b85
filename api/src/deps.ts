import type { DatabaseHandle } from "@funnel/db/client";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "./config";
import type { Cache, ExportQueue, IngestQueue, Mailer, RateLimiter } from "./ports";
import type { RealtimeStore } from "./realtime/store";
import type { CatalogCache } from "./services/catalog/catalog-cache";
import type { KeyCache } from "./services/keys/key-cache";

/** Everything a route or service may reach, chosen once at boot (see boot.ts). */
export interface Deps {
  config: Config;
  database: DatabaseHandle;
  queue: IngestQueue;
  limiter: RateLimiter;
  cache: Cache;
  /** The real-time view's rolling picture per funnel, fed at ingest. */
  realtime: RealtimeStore;
  /** API keys this process has resolved, while it hears of every key change (see key-cache.ts). */
  keys: KeyCache;
  /** Funnels this process has looked up, while it hears of every catalog write (see catalog-cache.ts). */
  catalog: CatalogCache;
  logger: Logger;
  metrics: Registry;
  /** Export jobs: their queue, files, signed links and mail (api/src/exports/). */
  exports: ExportDeps;
}

export interface ExportDeps {
  queue: ExportQueue;
  /** Folder of the export files (EXPORT_DIR). */
  dir: string;
  /** HMAC-SHA256 key of download links (EXPORT_SIGNING_SECRET, or generated in DATA_DIR). */
  signingSecret: string;
  mailer: Mailer;
  /** The clock of export times, expiry and links; tests move it. */
  now: () => Date;
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
