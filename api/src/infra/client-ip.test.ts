import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { clientIp, fromProxyHeader } from "./client-ip";

describe("fromProxyHeader", () => {
  it("takes the entry `hops` from the right of X-Forwarded-For", () => {
    expect(fromProxyHeader("1.1.1.1, 2.2.2.2, 3.3.3.3", 1)).toBe("3.3.3.3");
    expect(fromProxyHeader("1.1.1.1, 2.2.2.2, 3.3.3.3", 2)).toBe("2.2.2.2");
    expect(fromProxyHeader("3.3.3.3", 2)).toBe("3.3.3.3");
    expect(fromProxyHeader("::ffff:10.0.0.1", 1)).toBe("10.0.0.1");
    expect(fromProxyHeader("2001:db8::1", 1)).toBe("2001:db8::1");
    expect(fromProxyHeader("fe80::1%eth0", 1)).toBe("fe80::1");
  });

  it("gives nothing for an absent, empty or non-IP value", () => {
    expect(fromProxyHeader(undefined, 1)).toBeUndefined();
    expect(fromProxyHeader(" , ", 1)).toBeUndefined();
    expect(fromProxyHeader("evil", 1)).toBeUndefined();
  });
});

describe("clientIp", () => {
  const probe = (config: { CLIENT_IP_HEADER?: string | undefined; TRUSTED_PROXY_HOPS: number }) => {
    const app = new Hono();
    app.get("/", (c) => c.text(clientIp(c, config) ?? "none"));
    return async (headers: Record<string, string>) => (await app.request("/", { headers })).text();
  };

  it("ignores a client-sent X-Forwarded-For when no header is configured", async () => {
    expect(await probe({ TRUSTED_PROXY_HOPS: 1 })({ "x-forwarded-for": "9.9.9.9" })).toBe("none");
  });

  it("reads the configured header", async () => {
    const read = probe({ CLIENT_IP_HEADER: "x-forwarded-for", TRUSTED_PROXY_HOPS: 1 });
    expect(await read({ "x-forwarded-for": "9.9.9.9, 4.4.4.4" })).toBe("4.4.4.4");
  });
});
