import { randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import nodemailer from "nodemailer";
import type { Config } from "../config";
import type { Mailer } from "../ports";

/**
 * "Export ready" mail through nodemailer: SMTP when SMTP_URL is set; otherwise (the embedded
 * default) every message is written whole, as an .eml file, to DATA_DIR/outbox.
 */
export function createMailer(config: Config): Mailer {
  const from = config.EXPORT_MAIL_FROM;
  if (config.SMTP_URL !== undefined) {
    const transport = nodemailer.createTransport(config.SMTP_URL);
    return {
      async send(message) {
        await transport.sendMail({ from, ...message });
      },
    };
  }
  const outbox = outboxDir(config);
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    async send(message) {
      const info = await transport.sendMail({ from, ...message });
      await mkdir(outbox, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      await writeFile(join(outbox, `${stamp}-${randomUUID()}.eml`), info.message);
    },
  };
}

export function outboxDir(config: Pick<Config, "DATA_DIR">): string {
  return join(config.DATA_DIR, "outbox");
}
