import { createHash, randomBytes } from "node:crypto";

/** API keys look like `fa_live_<43 base64url chars>`; only their SHA-256 is stored. */
export const KEY_PREFIX = "fa_live_";

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export function generateApiKey(): { key: string; hash: string; prefix: string } {
  const key = `${KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
  return { key, hash: hashApiKey(key), prefix: key.slice(0, KEY_PREFIX.length + 6) };
}
