/**
 * Whom a rate limit counts: an IPv4 address, or an IPv6 client's /64 (one host usually holds a
 * whole /64 and could otherwise take a fresh budget with every address in it). Same rule as the
 * API's `rateLimitSubject`, without `node:net`.
 */
export function rateLimitSubject(ip: string | undefined): string {
  if (ip === undefined || ip === "") return "unknown";
  if (!ip.includes(":")) return ip;
  const [head = "", tail = ""] = ip.toLowerCase().split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const zeros = Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill("0");
  const groups = ip.includes("::") ? [...headGroups, ...zeros, ...tailGroups] : headGroups;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}
