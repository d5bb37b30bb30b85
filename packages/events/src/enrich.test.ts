import { describe, expect, it } from "vitest";
import { enrichUserAgent, rateLimitSubject, truncateIp } from "./enrich";

describe("enrichUserAgent", () => {
  it.each([undefined, null, "", "   "])("never takes a missing user agent (%j) for a bot", (ua) => {
    expect(enrichUserAgent(ua).is_bot).toBe(false);
  });

  it.each([undefined, null, "", "   "])("says nothing of the device without a user agent (%j)", (ua) => {
    expect(enrichUserAgent(ua, "DE")).toEqual({
      device_type: null,
      browser: null,
      os: null,
      is_bot: false,
      country: "DE",
    });
  });

  it("reads device, browser family and bot from a user agent", () => {
    const iphone =
      "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
    expect(enrichUserAgent(iphone)).toMatchObject({
      device_type: "mobile",
      browser: "Safari",
      is_bot: false,
    });
    const bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    expect(enrichUserAgent(bot).is_bot).toBe(true);
  });
});

describe("truncateIp", () => {
  it.each([
    ["203.0.113.77", "203.0.113.0"],
    ["2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"],
    ["2001:db8::1", "2001:db8:0::"],
    ["::ffff:198.51.100.9", "198.51.100.0"],
  ])("%s -> %s", (ip, expected) => {
    expect(truncateIp(ip)).toBe(expected);
  });
});

describe("rateLimitSubject", () => {
  it("counts an IPv4 address alone and an IPv6 client by its /64", () => {
    expect(rateLimitSubject("203.0.113.7")).toBe("203.0.113.7");
    expect(rateLimitSubject("2001:db8:0a:1::1")).toBe("2001:db8:a:1::/64");
    expect(rateLimitSubject("2001:DB8:a:1:ffff:1:2:3")).toBe("2001:db8:a:1::/64");
    expect(rateLimitSubject("::1")).toBe("0:0:0:0::/64");
    expect(rateLimitSubject(undefined)).toBe("unknown");
  });

  it("counts an IPv4-mapped IPv6 peer as its IPv4 address, not as one shared ::/64", () => {
    expect(rateLimitSubject("::ffff:198.51.100.9")).toBe("198.51.100.9");
    expect(rateLimitSubject("::ffff:198.51.100.10")).not.toBe(rateLimitSubject("::ffff:198.51.100.9"));
  });
});
