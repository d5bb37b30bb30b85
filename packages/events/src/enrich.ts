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
  const parsed = new UAParser(ua).getResult();
  return {
    device_type: deviceType(parsed.device.type),
    browser: parsed.browser.name ?? null,
    os: parsed.os.name ?? null,
    // An empty user agent is not a browser: count it as a bot rather than as a visitor.
    is_bot: ua.trim() === "" || isbot(ua),
  };
}

function deviceType(type: string | undefined): DeviceType {
  if (type === "tablet") return "tablet";
  if (type === "mobile" || type === "wearable") return "mobile";
  return "desktop";
}

/** IPv4 to its /24, IPv6 to its /48, as the privacy default of CONTRACT.md requires. */
export function truncateIp(ip: string): string {
  if (ip.includes(":")) return truncateIpv6(ip);
  const parts = ip.split(".");
  if (parts.length !== 4) return ip;
  return `${parts[0]}.${parts[1]}.${parts[2]}.0`;
}

function truncateIpv6(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return truncateIp(mapped[1]);
  const [head = "", tail = ""] = ip.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = ip.includes("::")
    ? [...headGroups, ...Array<string>(Math.max(missing, 0)).fill("0"), ...tailGroups]
    : headGroups;
  const kept = groups.slice(0, 3).map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""));
  while (kept.length < 3) kept.push("0");
  return `${kept.join(":")}::`;
}
