/**
 * HMAC-SHA256 signatures of the batches the edge worker forwards to the API's internal ingest route.
 * WebCrypto only, so the same code runs in workerd and in Node. The signed message is
 * `${timestamp}.${rawBody}`: a captured batch cannot be replayed with a fresh timestamp.
 */

export const TIMESTAMP_HEADER = "x-funnel-timestamp";
export const SIGNATURE_HEADER = "x-funnel-signature";
/** A batch signed longer ago than this, or this far in the future, is refused as stale. */
export const SIGNATURE_MAX_SKEW_MS = 5 * 60 * 1000;

export type SignatureCheck =
  | { ok: true }
  | { ok: false; reason: "missing" | "malformed" | "stale" | "mismatch" };

const encoder = new TextEncoder();

function hmacKey(secret: string, usage: "sign" | "verify") {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    usage,
  ]);
}

function toHex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) return null;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Hex HMAC-SHA256 of `${timestamp}.${rawBody}`, the value of the signature header. */
export async function signBatch(secret: string, timestamp: number, rawBody: string): Promise<string> {
  const key = await hmacKey(secret, "sign");
  return toHex(await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${rawBody}`)));
}

/** The two headers the edge sends with a batch; `now` is the signing time in unix ms. */
export async function signatureHeaders(
  secret: string,
  rawBody: string,
  now: number = Date.now(),
): Promise<Record<string, string>> {
  return {
    [TIMESTAMP_HEADER]: String(now),
    [SIGNATURE_HEADER]: await signBatch(secret, now, rawBody),
  };
}

export interface VerifyInput {
  secret: string;
  timestamp: string | null | undefined;
  signature: string | null | undefined;
  rawBody: string;
  now?: number;
}

/** Checks a forwarded batch; comparison is constant-time (`crypto.subtle.verify`). */
export async function verifyBatchSignature(input: VerifyInput): Promise<SignatureCheck> {
  const { timestamp, signature } = input;
  if (!timestamp || !signature) return { ok: false, reason: "missing" };
  if (!/^\d{1,16}$/.test(timestamp)) return { ok: false, reason: "malformed" };
  const signedAt = Number(timestamp);
  if (Math.abs((input.now ?? Date.now()) - signedAt) > SIGNATURE_MAX_SKEW_MS) {
    return { ok: false, reason: "stale" };
  }
  const expected = fromHex(signature);
  if (expected === null || expected.length !== 32) return { ok: false, reason: "malformed" };
  const key = await hmacKey(input.secret, "verify");
  const valid = await crypto.subtle.verify(
    "HMAC",
    key,
    expected,
    encoder.encode(`${timestamp}.${input.rawBody}`),
  );
  return valid ? { ok: true } : { ok: false, reason: "mismatch" };
}
