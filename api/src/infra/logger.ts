import { pino } from "pino";
import type { Config } from "../config";

/** Structured JSON logs. Callers log ids and counts, never raw bodies, IPs or keys. */
export function createLogger(config: Pick<Config, "LOG_LEVEL">) {
  return pino({
    level: config.LOG_LEVEL,
    base: { service: "funnel-api" },
    redact: { paths: ["req.headers.authorization", "*.authorization", "*.ip", "*.ip_address"], remove: true },
  });
}
