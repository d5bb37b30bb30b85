import { isbot } from "isbot";
import UAParser from "ua-parser-js";
import type { DeviceType, Enrichment } from "./schema";

/** Device, browser, OS and bot flag from a user agent, with a maintained parser and bot list. */
export function enrichUserAgent(
  userAgent: string | null | undefined,
  country: string | null = null,
): Enrichment {
  const ua = userAgent ?? "";
  let parsed = parsedAgents.get(ua);
  if (!parsed) {
    parsed = parseUserAgent(ua);
    // Traffic repeats a small set of agents; parsing one costs far more than a map lookup.
    if (parsedAgents.size >= MAX_REMEMBERED_AGENTS) parsedAgents.clear();
    parsedAgents.set(ua, parsed);
  }
  return { ...parsed, country };
}

const MAX_REMEMBERED_AGENTS = 2_000;
const parsedAgents = new Map<string, Omit<Enrichment, "country">>();

function parseUserAgent(ua: string): Omit<Enrichment, "country"> {
  // No user agent says nothing of the device, and is never by itself a bot: servers send purchases
  // and refunds without one. The session's attributes come from its events that carry one.
  if (ua.trim() === "") return { device_type: null, browser: null, os: null, is_bot: false };
  const parsed = new UAParser(ua).getResult();
  return {
    device_type: deviceType(parsed.device.type),
    browser: browserFamily(parsed.browser.name),
    os: parsed.os.name ?? null,
    is_bot: isbot(ua),
  };
}

/**
 * The browser's family, as reports group browsers: the parser names the mobile and embedded
 * builds apart ("Mobile Safari", "Chrome WebView"), a marketer counts them as Safari and Chrome.
 */
export function browserFamily(name: string | undefined): string | null {
  if (!name) return null;
  const family = name
    .replace(/^Mobile /, "")
    .replace(/ (Mobile|WebView|Headless)$/, "")
    .trim();
  return family === "" ? null : family;
}

function deviceType(type: string | undefined): DeviceType {
  if (type === "tablet") return "tablet";
  if (type === "mobile" || type === "wearable") return "mobile";
  return "desktop";
}

/** IPv4 to its /24, IPv6 to its /48, as the privacy default of CONTRACT.md requires. */
export function truncateIp(ip: string): string {
  const v4 = ipv4Of(ip);
  if (v4) {
    const parts = v4.split(".");
    return `${parts[0]}.${parts[1]}.${parts[2]}.0`;
  }
  if (!ip.includes(":")) return ip;
  return `${ipv6Prefix(ip, 3).join(":")}::`;
}

/**
 * Whom a rate limit counts: an IPv4 address, or an IPv6 client's /64 (one host usually holds a
 * whole /64, and could otherwise take a fresh budget with every address in it). Shared by the API
 * and the edge so both count the same client alike.
 */
export function rateLimitSubject(ip: string | undefined): string {
  if (ip === undefined || ip === "") return "unknown";
  const v4 = ipv4Of(ip);
  if (v4) return v4;
  if (!ip.includes(":")) return ip;
  return `${ipv6Prefix(ip, 4).join(":")}::/64`;
}

/** The IPv4 address of a dotted quad or of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
function ipv4Of(ip: string): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return mapped[1];
  return /^\d+\.\d+\.\d+\.\d+$/.test(ip) ? ip : undefined;
}

/** The first `count` groups of an IPv6 address, `::` expanded, leading zeros dropped. */
function ipv6Prefix(ip: string, count: number): string[] {
  const [head = "", tail = ""] = ip.toLowerCase().split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const zeros = Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill("0");
  const groups = ip.includes("::") ? [...headGroups, ...zeros, ...tailGroups] : headGroups;
  const kept = groups.slice(0, count).map((g) => g.replace(/^0+(?=.)/, ""));
  while (kept.length < count) kept.push("0");
  return kept;
}
