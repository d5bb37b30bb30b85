import { createTestPglite } from "@funnel/db/testing";
import { demoStory } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryIngestQueue } from "../ingest/queue-memory";
import { createTestApp, type EventPipeline, startEventPipeline, type TestApp } from "../testing";
import { seedDemo } from "./seed";

/**
 * The quick start's demo tells the story the product can find, read through the report routes
 * after the demo is seeded and written as the embedded default does it (import path, in-process
 * queue and its worker), on TimescaleDB and on PGlite: a step where one device drops off
 * significantly more than the others gets a suggestion naming that device; one A/B test has a
 * winner and another has none; refunds lower the revenue; and the last step of every funnel
 * converts some of its visitors, not all of them.
 */

interface Backend {
  name: string;
  t: TestApp;
  pipeline: EventPipeline;
  headers: Record<string, string>;
  events: number;
}

const DAY_MS = 86_400_000;
const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** Every day of the demo: it covers the 30 days before the seed. */
const PERIOD = `date_from=${isoDate(Date.now() - 31 * DAY_MS)}&date_to=${isoDate(Date.now() + DAY_MS)}`;

/** Waits for the seeded events to be written, then lets the pipeline settle them as after its own imports. */
async function written(t: TestApp, pipeline: EventPipeline, headers: Record<string, string>): Promise<void> {
  const queue = t.deps.queue;
  if (!(queue instanceof MemoryIngestQueue)) throw new Error("the demo test needs the in-process queue");
  const deadline = Date.now() + 240_000;
  while ((await queue.depth()) > 0) {
    if (Date.now() > deadline) throw new Error("the demo's events were not written in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (queue.failed.length > 0) throw new Error(`a demo job failed: ${queue.failed[0]?.error}`);
  // An import of no event: the pipeline resolves it once everything queued is written and the
  // reports' rollups are up to date, as it does for any import.
  await pipeline.importEvents(headers, []);
}

async function setUp(name: string, embedded: boolean): Promise<Backend> {
  const database = embedded ? await createTestPglite() : undefined;
  const t = await createTestApp(database ? { database } : {});
  const pipeline = startEventPipeline(t);
  const demo = await seedDemo(t.deps);
  const headers = { authorization: `Bearer ${demo.apiKey}` };
  await written(t, pipeline, headers);
  return { name, t, pipeline, headers, events: demo.events };
}

const backends: Backend[] = [];

beforeAll(async () => {
  backends.push(await setUp("TimescaleDB", false));
  backends.push(await setUp("embedded PGlite", true));
}, 600_000);

afterAll(async () => {
  for (const b of backends) {
    await b.pipeline.close();
    await b.t.close();
    if (b.name === "embedded PGlite") await b.t.deps.database.close();
  }
});

async function report<T>(b: Backend, funnelId: string, name: string): Promise<T> {
  const response = await b.t.app.request(`/api/v1/analytics/funnels/${funnelId}/${name}?${PERIOD}`, {
    headers: b.headers,
  });
  const text = await response.text();
  expect(response.status, text.slice(0, 500)).toBe(200);
  return JSON.parse(text) as T;
}

interface DropOffs {
  steps_with_drop_off: { step_id: string; suggestions: string[] }[];
}
interface AbTests {
  tests: {
    test_id: string;
    test_name: string;
    winner: { variant_id: string } | null;
    sample_ratio_mismatch: { detected: boolean };
  }[];
}
interface Revenue {
  summary: { total_revenue_cents: number; refund_rate: number; net_revenue_cents: number };
}
interface Overview {
  steps: { step_id: string; visitors: number; conversion_rate: number }[];
}

describe.each(["TimescaleDB", "embedded PGlite"])("the demo on %s", (backendName) => {
  const backend = () => {
    const b = backends.find((x) => x.name === backendName);
    if (!b) throw new Error("no backend");
    return b;
  };

  it("is some thousands of events in the demo funnels", () => {
    const b = backend();
    expect(b.events).toBeGreaterThan(5_000);
    expect(b.events).toBeLessThan(40_000);
  });

  it("suggests checking the step where one device drops off significantly more, naming the device", async () => {
    const b = backend();
    const planted = demoStory.filter((story) => story.weakDevice);
    expect(planted.length).toBeGreaterThan(0);
    for (const { funnel, weakDevice } of planted) {
      const step = funnel.steps[weakDevice?.step ?? -1];
      const body = await report<DropOffs>(b, funnel.id, "dropoffs");
      const suggestions = body.steps_with_drop_off.find((s) => s.step_id === step?.id)?.suggestions ?? [];
      expect(
        suggestions.filter((s) => s.startsWith(`Visitors on ${weakDevice?.device} drop off`)),
        JSON.stringify(body.steps_with_drop_off),
      ).toHaveLength(1);
    }
  });

  it("has an A/B test with a winner, the variant with a real lift, and one without", async () => {
    const b = backend();
    const winners: (string | null)[] = [];
    for (const { funnel, variantForward } of demoStory) {
      const [test, ...others] = (await report<AbTests>(b, funnel.id, "ab-tests")).tests;
      expect(others).toEqual([]);
      expect(test?.test_id).toBe(funnel.abTest.id);
      // No winner must mean the variants convert alike, not a broken split.
      expect(test?.sample_ratio_mismatch.detected).toBe(false);
      const chances = Object.values(variantForward);
      const lifted = Math.max(...chances) > Math.min(...chances);
      const best = Object.entries(variantForward).sort(([, x], [, y]) => y - x)[0]?.[0];
      expect(test?.winner?.variant_id ?? null, test?.test_name).toBe(lifted ? best : null);
      winners.push(test?.winner?.variant_id ?? null);
    }
    expect(winners.filter((w) => w !== null)).toHaveLength(1);
    expect(winners.filter((w) => w === null)).toHaveLength(1);
  });

  it("shows refunds in each funnel's revenue", async () => {
    const b = backend();
    for (const { funnel } of demoStory) {
      const { summary } = await report<Revenue>(b, funnel.id, "revenue");
      expect(summary.refund_rate, funnel.name).toBeGreaterThan(0);
      expect(summary.net_revenue_cents, funnel.name).toBeLessThan(summary.total_revenue_cents);
      expect(summary.net_revenue_cents, funnel.name).toBeGreaterThan(0);
    }
  });

  it("converts some of each funnel's last-step visitors, not all of them", async () => {
    const b = backend();
    for (const { funnel } of demoStory) {
      const { steps } = await report<Overview>(b, funnel.id, "overview");
      const last = steps[steps.length - 1];
      expect(last?.step_id).toBe(funnel.steps[funnel.steps.length - 1]?.id);
      expect(last?.visitors, funnel.name).toBeGreaterThan(0);
      expect(last?.conversion_rate, funnel.name).toBeGreaterThan(0);
      expect(last?.conversion_rate, funnel.name).toBeLessThan(1);
    }
  });
});
