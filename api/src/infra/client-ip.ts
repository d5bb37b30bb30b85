import { isIP } from "node:net";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";
import type { Config } from "../config";

/**
 * The client's IP for rate limiting and enrichment. Only a header that a trusted proxy sets
 * (CLIENT_IP_HEADER) is believed; without one it is the socket peer, so a client-sent
 * X-Forwarded-For changes nothing. Undefined when neither is known (in-process `app.request()`).
 */
export function clientIp(
  c: Context,
  config: Pick<Config, "CLIENT_IP_HEADER" | "TRUSTED_PROXY_HOPS">,
): string | undefined {
  if (config.CLIENT_IP_HEADER !== undefined) {
    return fromProxyHeader(c.req.header(config.CLIENT_IP_HEADER), config.TRUSTED_PROXY_HOPS);
  }
  try {
    return normalise(getConnInfo(c).remote.address);
  } catch {
    // No Node socket behind this request (app.request() in tests, another runtime).
    return undefined;
  }
}

/**
 * A comma-separated list (X-Forwarded-For) is appended to by each proxy, so the entry `hops` from the
 * right is the address the outermost trusted proxy saw; entries left of it are client-controlled.
 */
export function fromProxyHeader(value: string | undefined, hops: number): string | undefined {
  if (value === undefined) return undefined;
  const entries = value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0) return undefined;
  return normalise(entries[Math.max(0, entries.length - hops)]);
}

function normalise(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  // IPv4 clients on a dual-stack socket show up as ::ffff:a.b.c.d; link-local ones carry a %zone.
  const unmapped = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "").replace(/%.*$/, "");
  return isIP(unmapped) === 0 ? undefined : unmapped;
}
