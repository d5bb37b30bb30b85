import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config";
import worker from "../src/index";
import { type stubApi as StubApi, stubApi, waitFor } from "./api-stub";
import { freshIp, pageView, TRACK } from "./support";

let api: ReturnType<typeof StubApi>;
beforeEach(() => {
  api = stubApi();
});
afterEach(() => api.restore());

/** A /track request straight to the worker with `bindings`, as wrangler dev or Cloudflare would run it. */
async function trackWith(bindings: typeof env, events: { event_id: string }[], forgedIp: string) {
  const ctx = createExecutionContext();
  const response = await worker.fetch?.(
    new Request(TRACK, {
      method: "POST",
      headers: { "content-type": "text/plain", "cf-connecting-ip": forgedIp },
      body: JSON.stringify({ events }),
    }) as Request<unknown, IncomingRequestCfProperties>,
    bindings,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  if (!response) throw new Error("the worker has no fetch handler");
  return response.status;
}

/** Ten requests of 50 events at once, each with another CF-Connecting-IP: 500 events in the budget of 100 a second of one client. */
async function flood(bindings: typeof env) {
  const requests = Array.from({ length: 10 }, () => Array.from({ length: 50 }, () => pageView()));
  const statuses = await Promise.all(requests.map((events) => trackWith(bindings, events, freshIp())));
  const accepted = new Set(
    requests.filter((_, i) => statuses[i] === 202).flatMap((events) => events.map((e) => e.event_id)),
  );
  const forwarded = await waitFor(
    () => api.events().filter((e) => accepted.has(e.event_id)),
    (e) => e.length >= accepted.size,
  );
  return { refused: statuses.filter((s) => s === 429).length, forwarded };
}

describe("the client address", () => {
  it("is CF-Connecting-IP where Cloudflare sets it (the default): each address has its own budget", async () => {
    const { refused, forwarded } = await flood(env);
    expect(refused).toBe(0);
    expect(forwarded).toHaveLength(500);
    // Stored under the header's address, truncated to its /24.
    expect(forwarded.every((e) => /^198\.51\.\d+\.0$/.test(e.ip_address ?? ""))).toBe(true);
    expect(loadConfig(env).TRUST_CF_CONNECTING_IP).toBe(true);
  });

  it("is not taken from the client under wrangler dev: a sent CF-Connecting-IP neither escapes the limit nor is stored", async () => {
    const local = { ...env, TRUST_CF_CONNECTING_IP: "false" };
    const { refused, forwarded } = await flood(local);
    // One client, whatever the header says: most of the flood is over its budget.
    expect(refused).toBeGreaterThanOrEqual(5);
    expect(forwarded.length).toBeGreaterThan(0);
    expect(forwarded.every((e) => e.ip_address === null)).toBe(true);
    expect(loadConfig(local).TRUST_CF_CONNECTING_IP).toBe(false);
  });

  it("refuses a setting other than true or false, naming it", () => {
    expect(() => loadConfig({ ...env, TRUST_CF_CONNECTING_IP: "no" })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, TRUST_CF_CONNECTING_IP: "no" })).toThrow(/TRUST_CF_CONNECTING_IP/);
  });
});
