import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SIGNATURE_MAX_SKEW_MS, signatureHeaders, signBatch, verifyBatchSignature } from "./signing";

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
});
