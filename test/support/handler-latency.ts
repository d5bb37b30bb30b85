/**
 * The share of a route's 2xx answers the API's handlers gave within each bucket of its duration
 * histogram (`http_request_duration_seconds`, from the parsed request to the answer), summed over
 * the `/metrics` texts of one or more API processes; keyed by the bucket's bound in ms. Beside the
 * latency a client saw, it tells the time spent inside the handlers from the time spent waiting
 * for a core or a socket.
 */
export function handlerShares(metricsTexts: string[], route: string): Record<string, number> {
  const counts = new Map<string, number>();
  for (const line of metricsTexts.join("\n").split("\n")) {
    if (!line.startsWith("http_request_duration_seconds_bucket{") || !line.includes(`route="${route}"`))
      continue;
    if (!/status="2\d\d"/.test(line)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1] ?? "";
    counts.set(le, (counts.get(le) ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  const all = counts.get("+Inf") ?? 0;
  const shares: Record<string, number> = {};
  for (const [le, n] of counts) {
    if (le !== "+Inf" && all > 0) shares[String(Number(le) * 1000)] = Math.round((n / all) * 10_000) / 10_000;
  }
  return shares;
}
