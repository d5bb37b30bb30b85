import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Config, ConfigError } from "../config";

/**
 * Download links work without an API key until they expire: the link carries its expiry and an
 * HMAC-SHA256 over the job id and that expiry with a server secret. Changing either, or using
 * another job's signature, breaks it.
 */

export function signDownload(secret: string, jobId: string, expires: number): string {
  return createHmac("sha256", secret).update(`${jobId}.${expires}`).digest("base64url");
}

export function verifyDownload(secret: string, jobId: string, expires: number, signature: string): boolean {
  const expected = Buffer.from(signDownload(secret, jobId, expires));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** `/api/v1/analytics/export/{id}/download?expires=<unix seconds>&signature=…` */
export function downloadPath(secret: string, jobId: string, expiresAt: Date): string {
  const expires = Math.floor(expiresAt.getTime() / 1000);
  const signature = signDownload(secret, jobId, expires);
  return `/api/v1/analytics/export/${jobId}/download?expires=${expires}&signature=${signature}`;
}

const SECRET_FILE = "export-signing-secret";

/**
 * EXPORT_SIGNING_SECRET, required in production (every API and worker process must share it).
 * Elsewhere, when unset, one is generated once and kept in DATA_DIR, so links outlive a restart.
 */
export async function resolveSigningSecret(config: Config): Promise<string> {
  if (config.EXPORT_SIGNING_SECRET !== undefined) return config.EXPORT_SIGNING_SECRET;
  if (config.NODE_ENV === "production") {
    throw new ConfigError(
      "Invalid configuration:\n  EXPORT_SIGNING_SECRET: required in production (signs export download links; at least 32 characters)",
    );
  }
  const file = join(config.DATA_DIR, SECRET_FILE);
  const existing = await readSecret(file);
  if (existing) return existing;
  await mkdir(config.DATA_DIR, { recursive: true });
  try {
    await writeFile(file, randomBytes(32).toString("base64url"), { flag: "wx", mode: 0o600 });
  } catch (error) {
    // Another process of the same DATA_DIR wrote it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const written = await readSecret(file);
  if (!written) throw new Error(`${file}: could not read the generated export signing secret`);
  return written;
}

async function readSecret(file: string): Promise<string | null> {
  try {
    const secret = (await readFile(file, "utf8")).trim();
    return secret.length >= 32 ? secret : null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}
