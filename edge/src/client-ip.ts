import type { Config } from "./config";

/**
 * The address a request is counted (rate limit) and stored (truncated) under: CF-Connecting-IP,
 * which Cloudflare sets to the connecting client, where Cloudflare is in front. Elsewhere the
 * header is whatever the client sent, so there is no address: every request counts as one client.
 */
export function clientIp(
  request: Request,
  config: Pick<Config, "TRUST_CF_CONNECTING_IP">,
): string | undefined {
  if (!config.TRUST_CF_CONNECTING_IP) return undefined;
  return request.headers.get("cf-connecting-ip") ?? undefined;
}
