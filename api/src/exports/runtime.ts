import type { Logger } from "pino";
import type { Config } from "../config";
import type { ExportDeps } from "../deps";
import type { ExportQueue } from "../ports";
import { createMailer } from "./mailer";
import { BullMqExportQueue } from "./queue-bullmq";
import { MemoryExportQueue } from "./queue-memory";
import { resolveSigningSecret } from "./signing";

/**
 * The export machinery boot chooses once: BullMQ when REDIS_URL is set, else the in-process queue;
 * SMTP when SMTP_URL is set, else the outbox folder; the signing secret (generated in DATA_DIR
 * outside production when unset).
 */
export async function createExportDeps(
  config: Config,
  options: { logger?: Logger; queue?: ExportQueue; now?: () => Date } = {},
): Promise<ExportDeps> {
  const signingSecret = await resolveSigningSecret(config);
  const queue =
    options.queue ??
    (config.REDIS_URL === undefined
      ? new MemoryExportQueue()
      : new BullMqExportQueue({
          redisUrl: config.REDIS_URL,
          prefix: config.QUEUE_PREFIX,
          logger: options.logger,
        }));
  if (config.NODE_ENV === "production" && config.SMTP_URL === undefined) {
    options.logger?.warn("SMTP_URL is not set: export emails are written to DATA_DIR/outbox, not sent");
  }
  return {
    queue,
    dir: config.EXPORT_DIR,
    signingSecret,
    mailer: createMailer(config),
    now: options.now ?? (() => new Date()),
  };
}
