import { demoSpringSale } from "@funnel/fixtures";

/**
 * The calls printed when the embedded default starts with its demo: the funnel list, then a real
 * report (the overview of the demo's Spring Sale funnel, over the default period: the last 30 days
 * in UTC), so a newcomer's first report call works as printed.
 */
export function demoTryLines(apiKey: string, baseUrl: string): string[] {
  const curl = (path: string) => `  curl -H "Authorization: Bearer ${apiKey}" ${baseUrl}${path}`;
  return [
    `Try (the demo's funnels, then the overview of "${demoSpringSale.funnel.name}" over the last 30 days):`,
    curl("/api/v1/funnels"),
    curl(`/api/v1/analytics/funnels/${demoSpringSale.funnel.id}/overview`),
  ];
}
