import { randomUUID } from "node:crypto";
import type { TrackEvent } from "@funnel/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExportWorker } from "../exports/worker";
import type { ExportWorker } from "../ports";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  type EventPipeline,
  seedFunnel,
  startEventPipeline,
  type TestApp,
} from "../testing";
import { parseCsv } from "../testing/exports";

/**
 * A refund counts in the revenue report and its exports only against a stored purchase with the
 * same order_id, at most its value: a forged or early refund moves nothing, and counts once its
 * purchase arrives (docs/metrics.md, "Refunds").
 */

const PERIOD = { date_from: "2026-01-01", date_to: "2026-01-31" };
const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

let t: TestApp;
let pipeline: EventPipeline;
let worker: ExportWorker;
let owner: AccountWithKey;
let other: AccountWithKey;
let funnelId: string;
let otherFunnelId: string;

beforeAll(async () => {
  // Every read sees the writes before it: no cached report.
  t = await createTestApp({ config: { REPORT_CACHE_SECONDS: 0 } });
  worker = await startExportWorker(t.deps, { cleanup: false });
  pipeline = startEventPipeline(t);
  owner = await createAccountWithKey(t.deps.database);
  other = await createAccountWithKey(t.deps.database);
  ({ funnelId } = await seedFunnel(t.app, owner.headers));
  ({ funnelId: otherFunnelId } = await seedFunnel(t.app, other.headers));
});

afterAll(async () => {
  await worker?.close();
  await pipeline?.close();
  await t?.close();
});

const purchase = (funnel: string, orderId: string, cents: number, day: string): TrackEvent => ({
  event_type: "conversion",
  conversion_type: "purchase",
  event_id: randomUUID(),
  funnel_id: funnel,
  session_id: `s-${randomUUID()}`,
  visitor_id: randomUUID(),
  value_cents: cents,
  order_id: orderId,
  timestamp: `2026-01-${day}T10:00:00Z`,
  user_agent: CHROME,
});

const refund = (orderId: string, cents: number, day: string): TrackEvent => ({
  event_type: "refund",
  event_id: randomUUID(),
  funnel_id: funnelId,
  session_id: "merchant-server",
  visitor_id: randomUUID(),
  value_cents: cents,
  order_id: orderId,
  timestamp: `2026-01-${day}T12:00:00Z`,
  user_agent: CHROME,
});

interface Summary {
  total_revenue_cents: number;
  refund_rate: number;
  net_revenue_cents: number;
}

async function summary(): Promise<Summary> {
  const response = await t.app.request(
    `/api/v1/analytics/funnels/${funnelId}/revenue?${new URLSearchParams(PERIOD)}`,
    { headers: owner.headers },
  );
  expect(response.status).toBe(200);
  return ((await response.json()) as { summary: Summary }).summary;
}

/** The summary rows of a CSV export of the revenue report. */
async function exported(): Promise<Summary> {
  const posted = await t.app.request("/api/v1/analytics/export", {
    method: "POST",
    headers: { ...owner.headers, "content-type": "application/json" },
    body: JSON.stringify({ funnel_id: funnelId, report_type: "revenue", format: "csv", ...PERIOD }),
  });
  expect(posted.status).toBe(202);
  const { job_id } = (await posted.json()) as { job_id: string };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const job = (await (
      await t.app.request(`/api/v1/analytics/export/${job_id}`, { headers: owner.headers })
    ).json()) as { status: string; download_url?: string };
    if (job.status === "completed" && job.download_url) {
      const rows = parseCsv(await (await t.app.request(job.download_url)).text());
      const value = (name: string) => Number(rows.find((r) => r[0] === name)?.[1]);
      // The CSV shows money in dollars and rates as percentages.
      return {
        total_revenue_cents: Math.round(value("Revenue (USD)") * 100),
        refund_rate: Number((value("Refund rate (%)") / 100).toFixed(6)),
        net_revenue_cents: Math.round(value("Net revenue (USD)") * 100),
      };
    }
    if (job.status === "failed" || Date.now() > deadline) throw new Error(`export ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function expectFigures(figures: Summary): Promise<void> {
  expect(await summary()).toMatchObject(figures);
  expect(await exported()).toEqual(figures);
}

describe("refunds in the revenue report and its exports", () => {
  it("count only against a stored purchase of the account, at most its value, whenever it arrives", async () => {
    await pipeline.importEvents(owner.headers, [purchase(funnelId, "o-1", 5_000, "05")]);
    // Another account's purchase shares the order_id of the forged refund below.
    await pipeline.importEvents(other.headers, [purchase(otherFunnelId, "o-forged", 9_000, "05")]);
    await pipeline.importEvents(owner.headers, [
      refund("o-forged", 2_147_483_647, "06"),
      refund("o-late", 1_500, "07"),
    ]);
    await expectFigures({ total_revenue_cents: 5_000, refund_rate: 0, net_revenue_cents: 5_000 });

    // The refund of o-late counts once its purchase arrives.
    await pipeline.importEvents(owner.headers, [purchase(funnelId, "o-late", 2_000, "06")]);
    await expectFigures({ total_revenue_cents: 7_000, refund_rate: 0.5, net_revenue_cents: 5_500 });

    // More than o-1 is worth: it counts 5,000, and a further refund of it nothing.
    await pipeline.importEvents(owner.headers, [refund("o-1", 9_999, "08")]);
    await pipeline.importEvents(owner.headers, [refund("o-1", 100, "09")]);
    await expectFigures({ total_revenue_cents: 7_000, refund_rate: 1, net_revenue_cents: 500 });
  });
});
