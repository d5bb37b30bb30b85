import { rateLimitSubject } from "@funnel/events/enrich";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type stubApi as StubApi, stubApi } from "./api-stub";
import { freshIp, pageView, track } from "./support";

let api: ReturnType<typeof StubApi>;
beforeEach(() => {
  api = stubApi();
});
afterEach(() => api.restore());

const events = (n: number) => ({ events: Array.from({ length: n }, () => pageView()) });

describe("the per-IP limit of 100 events per second", () => {
  it("counts events, not requests: 100 events pass, more in the same second are 429 with Retry-After", async () => {
    const ip = freshIp();
    expect((await track(events(60), { ip })).status).toBe(202);
    expect((await track(events(40), { ip })).status).toBe(202);
    // The budget refills at 100 events/s, so the next request asks for more than the few ms since
    // can have given back.
    const over = await track(events(30), { ip });
    expect(over.status).toBe(429);
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // A browser on another origin may read it: t.js paces its retries with it.
    expect(over.headers.get("access-control-allow-origin")).toBe("*");
    expect(over.headers.get("access-control-expose-headers")).toContain("Retry-After");
    expect(await over.json()).toMatchObject({
      error: { code: "RATE_LIMITED", message: "more than 100 events per second from this address" },
    });
  });

  it("refuses a request whose events do not fit, and lets its address in again after Retry-After", async () => {
    const ip = freshIp();
    expect((await track(events(90), { ip })).status).toBe(202);
    const over = await track(events(20), { ip });
    expect(over.status).toBe(429);
    await new Promise((r) => setTimeout(r, 1000 * Number(over.headers.get("retry-after"))));
    expect((await track(events(20), { ip })).status).toBe(202);
  });

  it("never lets one address's flood throttle another address", async () => {
    const flooder = freshIp();
    const other = freshIp();
    const flood = await Promise.all(Array.from({ length: 10 }, () => track(events(50), { ip: flooder })));
    expect(flood.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(8);
    const others = await Promise.all([track(events(50), { ip: other }), track(events(50), { ip: other })]);
    expect(others.map((r) => r.status)).toEqual([202, 202]);
  });

  it("counts an IPv6 client by its /64", async () => {
    expect(rateLimitSubject("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(rateLimitSubject("2001:db8:1:2:bbbb::2")).toBe("2001:db8:1:2::/64");
    expect((await track(events(100), { ip: "2001:db8:7:7::1" })).status).toBe(202);
    expect((await track(events(30), { ip: "2001:db8:7:7:ffff::9" })).status).toBe(429);
    expect((await track(events(1), { ip: "2001:db8:7:8::1" })).status).toBe(202);
  });
});
