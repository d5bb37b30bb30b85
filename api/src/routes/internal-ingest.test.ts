import { randomUUID } from "node:crypto";
import type { AcceptedEvent } from "@funnel/events";
import { SIGNATURE_HEADER, signatureHeaders, TIMESTAMP_HEADER } from "@funnel/events/signing";
import { storedEvent } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../app";
import { BODY_LIMIT_BYTES } from "../http/body-limit";
import {
  createIngestTestContext,
  type IngestTestContext,
  rejectedRows,
  type SeededAccount,
  seedAccount,
  storedEvents,
  TEST_EDGE_SECRET,
} from "../ingest/testing";

let ctx: IngestTestContext;
let account: SeededAccount;

beforeAll(async () => {
  ctx = await createIngestTestContext();
  ctx.startWorker();
  account = await seedAccount(ctx.deps);
});

afterAll(async () => {
  await ctx?.close();
});

/** An event as the edge forwards it: validated, enriched there, IP already truncated. */
function edgeEvent(funnelId: string, overrides: Partial<AcceptedEvent> = {}): AcceptedEvent {
  const now = new Date().toISOString();
  return storedEvent({
    event_type: "page_view",
    funnel_id: funnelId,
    session_id: `s-${randomUUID()}`,
    visitor_id: randomUUID(),
    occurred_at: now,
    received_at: now,
    page_id: randomUUID(),
    url: "https://shop.example.com/",
    utm_source: "newsletter",
    user_agent: "Mozilla/5.0",
    ip_address: "198.51.100.0",
    metadata: { from: "edge" },
    enrichment: { device_type: "tablet", browser: "Safari", os: "iPadOS", is_bot: false, country: "DE" },
    ...overrides,
  });
}

const send = (rawBody: string, headers: Record<string, string>, app = ctx.app) =>
  app.request("/internal/ingest", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: rawBody,
  });

describe("POST /internal/ingest", () => {
  it("accepts a correctly signed batch and keeps the edge's enrichment", async () => {
    const event = edgeEvent(account.funnelId);
    const raw = JSON.stringify({ events: [event] });
    const res = await send(raw, await signatureHeaders(TEST_EDGE_SECRET, raw));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 1, rejected: [] });
    await ctx.drained();
    const [row] = (await storedEvents(ctx.deps, account.funnelId)).filter(
      (e) => e.eventId === event.event_id,
    );
    expect(row).toMatchObject({
      deviceType: "tablet",
      browser: "Safari",
      os: "iPadOS",
      country: "DE",
      ipAddress: "198.51.100.0",
      utmSource: "newsletter",
      metadata: { from: "edge" },
    });
  });

  it("refuses unsigned, mis-signed, tampered and stale batches with 401", async () => {
    const raw = JSON.stringify({ events: [edgeEvent(account.funnelId)] });
    const good = await signatureHeaders(TEST_EDGE_SECRET, raw);
    const cases: Record<string, string>[] = [
      {},
      { [TIMESTAMP_HEADER]: good[TIMESTAMP_HEADER] ?? "" },
      { ...good, [SIGNATURE_HEADER]: "0".repeat(64) },
      await signatureHeaders("another-secret-that-is-long-enough-000", raw),
      await signatureHeaders(TEST_EDGE_SECRET, raw, Date.now() - 6 * 60_000),
      await signatureHeaders(TEST_EDGE_SECRET, raw, Date.now() + 6 * 60_000),
    ];
    for (const headers of cases) {
      const res = await send(raw, headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: "UNAUTHORIZED" } });
    }
    // The signature covers the exact bytes: the same JSON with one more space is refused.
    expect((await send(`${raw} `, good)).status).toBe(401);
  });

  it("answers 503 when no signing secret is configured", async () => {
    const app = createApp({ ...ctx.deps, config: { ...ctx.deps.config, EDGE_SIGNING_SECRET: undefined } });
    const raw = JSON.stringify({ events: [] });
    const res = await send(raw, await signatureHeaders(TEST_EDGE_SECRET, raw), app);
    expect(res.status).toBe(503);
  });

  it("validates every event again and stores what the edge refused", async () => {
    const { funnelId } = await seedAccount(ctx.deps);
    const marker = randomUUID();
    const raw = JSON.stringify({
      events: [edgeEvent(funnelId), { ...edgeEvent(funnelId), value_cents: -5, session_id: marker }],
      rejected: [{ index: 3, errors: [{ field: "funnel_id", message: "must be a UUID" }], raw: { marker } }],
    });
    const res = await send(raw, await signatureHeaders(TEST_EDGE_SECRET, raw));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      accepted: 1,
      rejected: [{ index: 1, errors: [expect.objectContaining({ field: "value_cents" })] }],
    });
    await ctx.drained();
    expect(await storedEvents(ctx.deps, funnelId)).toHaveLength(1);
    const kept = (await rejectedRows(ctx.deps)).filter((r) => JSON.stringify(r.payload).includes(marker));
    expect(kept.map((r) => [r.reason, r.source])).toEqual([
      ["invalid", "edge"],
      ["invalid", "edge"],
    ]);
  });

  it("refuses a badly formed signature from the headers, a body past its limit with 413, bytes not UTF-8 with 400", async () => {
    const raw = JSON.stringify({ events: [edgeEvent(account.funnelId)] });
    const good = await signatureHeaders(TEST_EDGE_SECRET, raw);
    for (const signature of [
      `${good[SIGNATURE_HEADER]}00`,
      `${good[SIGNATURE_HEADER]}`.slice(2),
      "g".repeat(64),
    ]) {
      const res = await send(raw, { ...good, [SIGNATURE_HEADER]: signature });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { message: "batch signature malformed" } });
    }
    const large = raw + " ".repeat(BODY_LIMIT_BYTES.edgeBatch + 1 - raw.length);
    const tooLarge = await send(large, await signatureHeaders(TEST_EDGE_SECRET, large));
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({
      error: {
        code: "PAYLOAD_TOO_LARGE",
        message: `request body exceeds ${BODY_LIMIT_BYTES.edgeBatch} bytes`,
      },
    });
    // Signed as they are, so the signature passes: the text is refused, not patched into U+FFFD.
    const bytes = Buffer.concat([Buffer.from(raw.slice(0, -2)), Buffer.from([0xff]), Buffer.from("]}")]);
    const res = await ctx.app.request("/internal/ingest", {
      method: "POST",
      headers: { "content-type": "application/json", ...(await signatureHeaders(TEST_EDGE_SECRET, bytes)) },
      body: bytes,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { details: [{ field: "body", message: "must be UTF-8" }] },
    });
  });
});
