import { SELF } from "cloudflare:test";

export const TRACK = "http://edge.test/api/v1/analytics/track";
export const FUNNEL = "5a1e0000-0000-4000-8000-000000000001";
export const PAGE = "5a1e0000-0000-4000-8000-0000000000b1";
export const CHROME_UA =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

let counter = 0;
/** A fresh address per test, so Durable Object budgets never leak between tests. */
export function freshIp(): string {
  counter += 1;
  return `198.51.${Math.floor(counter / 250)}.${(counter % 250) + 1}`;
}

export function pageView(overrides: Record<string, unknown> = {}) {
  return {
    event_type: "page_view",
    funnel_id: FUNNEL,
    page_id: PAGE,
    session_id: "s-1",
    visitor_id: crypto.randomUUID(),
    event_id: crypto.randomUUID(),
    ...overrides,
  };
}

export function track(
  body: unknown,
  options: { ip?: string; userAgent?: string; country?: string; raw?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "text/plain" };
  if (options.ip) headers["cf-connecting-ip"] = options.ip;
  if (options.userAgent) headers["user-agent"] = options.userAgent;
  return SELF.fetch(TRACK, {
    method: "POST",
    headers,
    body: options.raw ?? JSON.stringify(body),
    ...(options.country ? { cf: { country: options.country } } : {}),
  });
}
