/**
 * HMAC-SHA256 signatures of the batches the edge worker forwards to the API's internal ingest route.
 * WebCrypto only, so the same code runs in workerd and in Node. The signed message is the bytes of
 * `${timestamp}.` followed by the body's bytes exactly as sent: a captured batch cannot be replayed
 * with a fresh timestamp, and no two different byte strings share a signature because they decode
 * to the same text. A body given as a string is signed as its UTF-8 bytes, which is what `fetch`
 * sends for it.
 */

export const TIMESTAMP_HEADER = "x-funnel-timestamp";
export const SIGNATURE_HEADER = "x-funnel-signature";
/** A batch signed longer ago than this, or this far in the future, is refused as stale. */
export const SIGNATURE_MAX_SKEW_MS = 5 * 60 * 1000;

export type SignatureCheck =
  | { ok: true }
  | { ok: false; reason: "missing" | "malformed" | "stale" | "mismatch" };

/** The raw body: its bytes as received, or the text the edge is about to send. */
export type RawBody = string | Uint8Array;

const encoder = new TextEncoder();

function hmacKey(secret: string, usage: "sign" | "verify") {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    usage,
  ]);
}

function toHex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** An HMAC-SHA256 in hex is 64 digits; anything else is refused before the body is read. */
function fromHex(hex: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[0-9a-f]{64}$/i.test(hex)) return null;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function signedMessage(timestamp: string, rawBody: RawBody): Uint8Array<ArrayBuffer> {
  const prefix = encoder.encode(`${timestamp}.`);
  const body = typeof rawBody === "string" ? encoder.encode(rawBody) : rawBody;
  const message = new Uint8Array(prefix.length + body.length);
  message.set(prefix);
  message.set(body, prefix.length);
  return message;
}

/** Hex HMAC-SHA256 of `${timestamp}.<raw body>`, the value of the signature header. */
export async function signBatch(secret: string, timestamp: number, rawBody: RawBody): Promise<string> {
  const key = await hmacKey(secret, "sign");
  return toHex(await crypto.subtle.sign("HMAC", key, signedMessage(String(timestamp), rawBody)));
}

/** The two headers the edge sends with a batch; `now` is the signing time in unix ms. */
export async function signatureHeaders(
  secret: string,
  rawBody: RawBody,
  now: number = Date.now(),
): Promise<Record<string, string>> {
  return {
    [TIMESTAMP_HEADER]: String(now),
    [SIGNATURE_HEADER]: await signBatch(secret, now, rawBody),
  };
}

export interface SignatureHeadersInput {
  timestamp: string | null | undefined;
  signature: string | null | undefined;
  now?: number;
}

/**
 * What can be checked from the headers alone (present, well formed, fresh), so that a batch that
 * cannot pass is refused before its body is read.
 */
export function checkSignatureHeaders(input: SignatureHeadersInput): SignatureCheck {
  const { timestamp, signature } = input;
  if (!timestamp || !signature) return { ok: false, reason: "missing" };
  if (!/^\d{1,16}$/.test(timestamp) || fromHex(signature) === null) return { ok: false, reason: "malformed" };
  if (Math.abs((input.now ?? Date.now()) - Number(timestamp)) > SIGNATURE_MAX_SKEW_MS) {
    return { ok: false, reason: "stale" };
  }
  return { ok: true };
}

export interface VerifyInput extends SignatureHeadersInput {
  secret: string;
  rawBody: RawBody;
}

/** Checks a forwarded batch; comparison is constant-time (`crypto.subtle.verify`). */
export async function verifyBatchSignature(input: VerifyInput): Promise<SignatureCheck> {
  const headers = checkSignatureHeaders(input);
  if (!headers.ok) return headers;
  const { timestamp, signature } = input;
  const expected = signature ? fromHex(signature) : null;
  if (!timestamp || expected === null) return { ok: false, reason: "malformed" };
  const key = await hmacKey(input.secret, "verify");
  const valid = await crypto.subtle.verify("HMAC", key, expected, signedMessage(timestamp, input.rawBody));
  return valid ? { ok: true } : { ok: false, reason: "mismatch" };
}
