import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { SIGNATURE_MAX_SKEW_MS } from "@funnel/events/signing";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../src/config";
import { retryDelaySeconds } from "../src/forward/consumer";
import type { ForwardMessage } from "../src/forward/messages";
import worker from "../src/index";
import { type stubApi as StubApi, stubApi, waitFor } from "./api-stub";
import { CHROME_UA, freshIp, pageView, track } from "./support";

let api: ReturnType<typeof StubApi>;
beforeEach(() => {
  api = stubApi();
});
afterEach(() => api.restore());

const IPHONE_UA =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

describe("enrichment and forwarding", () => {
  it("enriches at the edge and forwards a signed batch with the IP truncated", async () => {
    const before = Date.now();
    const event = pageView({ ip_address: "9.9.9.9" });
    const res = await track(event, { ip: "203.0.113.77", userAgent: IPHONE_UA, country: "DE" });
    expect(res.status).toBe(202);
    const [forwarded] = await waitFor(api.events, (e) => e.length > 0);
    expect(forwarded).toMatchObject({
      event_id: event.event_id,
      visitor_id: event.visitor_id,
      // The body's ip_address is ignored: a browser cannot choose the address it is counted under.
      ip_address: "203.0.113.0",
      user_agent: IPHONE_UA,
      enrichment: {
        device_type: "mobile",
        browser: "Safari",
        os: "iOS",
        is_bot: false,
        country: "DE",
      },
    });
    const received = Date.parse(forwarded?.received_at ?? "");
    expect(received).toBeGreaterThanOrEqual(before - 1000);
    expect(received).toBeLessThanOrEqual(Date.now());
    const [batch] = api.batches;
    expect(batch?.signature).toEqual({ ok: true });
    expect(Math.abs(Number(batch?.timestamp) - Date.now())).toBeLessThan(SIGNATURE_MAX_SKEW_MS);
  });

  it("truncates IPv6 to its /48, flags bots and keeps refused events for operators", async () => {
    const bad = pageView({ page_id: "nope" });
    await track({ events: [pageView(), bad] }, { ip: "2001:db8:abcd:12:1::5", userAgent: "Googlebot/2.1" });
    const batch = await waitFor(
      () => api.batches.find((b) => b.rejected.length > 0),
      (b) => b !== undefined,
    );
    expect(batch?.events[0]).toMatchObject({ ip_address: "2001:db8:abcd::", enrichment: { is_bot: true } });
    expect(batch?.rejected[0]).toMatchObject({ index: 1, raw: bad, errors: [{ field: "page_id" }] });
  });

  it("groups the events of many requests into few batches", async () => {
    const ip = freshIp();
    await Promise.all(
      Array.from({ length: 5 }, () =>
        track({ events: Array.from({ length: 10 }, () => pageView()) }, { ip, userAgent: CHROME_UA }),
      ),
    );
    await waitFor(api.events, (e) => e.length >= 50);
    expect(api.events()).toHaveLength(50);
    expect(api.batches.length).toBeLessThan(5);
  });

  it("delivers every accepted event once the API is back, with the same event ids", async () => {
    api.down();
    const sent = Array.from({ length: 3 }, () => pageView());
    for (const event of sent) expect((await track(event, { ip: freshIp() })).status).toBe(202);
    await waitFor(api.attempts, (n) => n >= 3);
    api.status(503);
    await waitFor(api.attempts, (n) => n >= 6);
    expect(api.events()).toHaveLength(0);
    api.up();
    await waitFor(api.events, (e) => e.length >= 3);
    expect(
      api
        .events()
        .map((e) => e.event_id)
        .sort(),
    ).toEqual(sent.map((e) => e.event_id).sort());
  });
});

describe("the queue consumer", () => {
  const message = (id: string, attempts: number) => ({
    id,
    timestamp: new Date(),
    attempts,
    body: { events: [], rejected: [] } satisfies ForwardMessage,
  });

  it("acknowledges a batch the API took", async () => {
    const batch = createMessageBatch<ForwardMessage>("funnel-edge-events", [message("a", 1)]);
    const ctx = createExecutionContext();
    await worker.queue!(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.ackAll).toBe(true);
    expect(result.retryBatch.retry).toBe(false);
  });

  it("retries the whole batch with a growing delay while the API is down", async () => {
    api.down();
    const config = { ...loadConfig(env), FORWARD_RETRY_BASE_SECONDS: 5 };
    const batch = createMessageBatch<ForwardMessage>("funnel-edge-events", [
      message("a", 3),
      message("b", 1),
    ]);
    const retryAll = vi.spyOn(batch, "retryAll");
    const ctx = createExecutionContext();
    await worker.queue!(batch, { ...env, FORWARD_RETRY_BASE_SECONDS: "5" }, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.ackAll).toBe(false);
    expect(result.retryBatch.retry).toBe(true);
    // The oldest message's attempts decide the delay: 5 s doubled twice.
    expect(retryAll).toHaveBeenCalledWith({ delaySeconds: 20 });
    expect(retryDelaySeconds(config.FORWARD_RETRY_BASE_SECONDS, 1)).toBe(5);
    // Doubling, capped at 5 minutes: with max_retries 100, a batch waits hours for the API.
    expect(retryDelaySeconds(5, 30)).toBe(300);
  });
});
