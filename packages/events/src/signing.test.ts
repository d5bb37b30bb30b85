import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  checkSignatureHeaders,
  SIGNATURE_MAX_SKEW_MS,
  signatureHeaders,
  signBatch,
  verifyBatchSignature,
} from "./signing";

const secret = "s".repeat(40);
const body = JSON.stringify({ events: [{ event_id: "x" }] });
const now = 1_770_000_000_000;

describe("batch signing", () => {
  it("is the hex HMAC-SHA256 of <timestamp>.<body>", async () => {
    const expected = createHmac("sha256", secret).update(`${now}.${body}`).digest("hex");
    expect(await signBatch(secret, now, body)).toBe(expected);
  });

  it("verifies its own signature", async () => {
    const headers = await signatureHeaders(secret, body, now);
    const check = await verifyBatchSignature({
      secret,
      timestamp: headers["x-funnel-timestamp"],
      signature: headers["x-funnel-signature"],
      rawBody: body,
      now: now + 1000,
    });
    expect(check).toEqual({ ok: true });
  });

  it("refuses missing, malformed, tampered, wrong-secret and stale batches", async () => {
    const signature = await signBatch(secret, now, body);
    const base = { secret, timestamp: String(now), signature, rawBody: body, now };
    expect(await verifyBatchSignature({ ...base, signature: undefined })).toEqual({
      ok: false,
      reason: "missing",
    });
    expect(await verifyBatchSignature({ ...base, timestamp: "" })).toEqual({ ok: false, reason: "missing" });
    expect(await verifyBatchSignature({ ...base, timestamp: "abc" })).toEqual({
      ok: false,
      reason: "malformed",
    });
    expect(await verifyBatchSignature({ ...base, signature: "zz" })).toEqual({
      ok: false,
      reason: "malformed",
    });
    expect(await verifyBatchSignature({ ...base, rawBody: `${body} ` })).toEqual({
      ok: false,
      reason: "mismatch",
    });
    expect(await verifyBatchSignature({ ...base, secret: "t".repeat(40) })).toEqual({
      ok: false,
      reason: "mismatch",
    });
    // The timestamp is signed: moving it to look fresh breaks the signature.
    expect(await verifyBatchSignature({ ...base, timestamp: String(now + 1) })).toEqual({
      ok: false,
      reason: "mismatch",
    });
    const late = now + SIGNATURE_MAX_SKEW_MS + 1;
    expect(await verifyBatchSignature({ ...base, now: late })).toEqual({ ok: false, reason: "stale" });
    const early = now - SIGNATURE_MAX_SKEW_MS - 1;
    expect(await verifyBatchSignature({ ...base, now: early })).toEqual({ ok: false, reason: "stale" });
  });

  it("signs the body's bytes: a string and its UTF-8 bytes are one body, other bytes of the same text are not", async () => {
    const text = JSON.stringify({ url: "https://shop.example.com/\uFFFD", name: "Café" });
    const bytes = new TextEncoder().encode(text);
    const signature = await signBatch(secret, now, text);
    expect(await signBatch(secret, now, bytes)).toBe(signature);
    const base = { secret, timestamp: String(now), signature, now };
    expect(await verifyBatchSignature({ ...base, rawBody: bytes })).toEqual({ ok: true });
    // Both decode to the signed text (an invalid byte becomes U+FFFD, a leading BOM is dropped).
    const invalid = Buffer.from(
      Buffer.from(text).toString("latin1").replace("\xef\xbf\xbd", "\xff"),
      "latin1",
    );
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
    for (const rawBody of [invalid, withBom]) {
      expect(new TextDecoder().decode(rawBody)).toBe(text);
      expect(await verifyBatchSignature({ ...base, rawBody })).toEqual({ ok: false, reason: "mismatch" });
    }
  });

  it("refuses from the headers alone what no body could pass", () => {
    const signature = "ab".repeat(32);
    const ok = { timestamp: String(now), signature, now };
    expect(checkSignatureHeaders(ok)).toEqual({ ok: true });
    expect(checkSignatureHeaders({ ...ok, signature: null })).toEqual({ ok: false, reason: "missing" });
    for (const bad of ["ab".repeat(31), "ab".repeat(33), `${"ab".repeat(31)}zz`, ` ${signature}`]) {
      expect(checkSignatureHeaders({ ...ok, signature: bad }), bad).toEqual({
        ok: false,
        reason: "malformed",
      });
    }
    expect(checkSignatureHeaders({ ...ok, timestamp: "1e12" })).toEqual({ ok: false, reason: "malformed" });
    expect(checkSignatureHeaders({ ...ok, now: now + SIGNATURE_MAX_SKEW_MS + 1 })).toEqual({
      ok: false,
      reason: "stale",
    });
  });
});
