import type { AcceptedEvent } from "@funnel/events";
import { describe, expect, it } from "vitest";
import type { IngestBatch } from "../ports";
import { EnqueueCoalescer, packBatches } from "./coalesce";

const event = (n: number) => ({ event_id: `e${n}` }) as unknown as AcceptedEvent;
const batch = (
  events: number,
  source: IngestBatch["source"] = "track",
  accountId: string | null = null,
): IngestBatch => ({
  source,
  accountId,
  accepted: Array.from({ length: events }, (_, i) => event(i)),
  rejected: [],
});

describe("packBatches", () => {
  it("concatenates batches of the same source and account, up to the job size", () => {
    const jobs = packBatches([batch(3), batch(4), batch(2, "import", "a"), batch(5)], 10);
    expect(jobs.map((j) => [j.source, j.accountId, j.accepted.length])).toEqual([
      ["track", null, 10],
      ["import", "a", 2],
      ["track", null, 2],
    ]);
  });

  it("splits one batch larger than a job", () => {
    const big = batch(2_500, "import", "a");
    big.rejected.push({ index: 7, errors: [], raw: null });
    const jobs = packBatches([big], 1_000);
    expect(jobs.map((j) => j.accepted.length + j.rejected.length)).toEqual([1_000, 1_000, 501]);
  });
});

describe("EnqueueCoalescer", () => {
  it("writes at once when idle, and joins callers that arrive during a write into the next one", async () => {
    const writes: number[] = [];
    let release: () => void = () => {};
    const coalescer = new EnqueueCoalescer(async (jobs) => {
      writes.push(jobs.reduce((n, j) => n + j.accepted.length, 0));
      if (writes.length === 1) await new Promise<void>((r) => (release = r));
    }, 1_000);
    const settled: number[] = [];
    const first = coalescer.enqueue(batch(1)).then(() => settled.push(1));
    await Promise.resolve();
    expect(writes).toEqual([1]);
    const later = [2, 3, 4].map((n) => coalescer.enqueue(batch(n)).then(() => settled.push(n)));
    await new Promise((r) => setTimeout(r, 5));
    expect(writes).toEqual([1]);
    expect(settled).toEqual([]);
    release();
    await Promise.all([first, ...later]);
    expect(writes).toEqual([1, 9]);
    expect(settled).toEqual([1, 2, 3, 4]);
  });

  it("rejects every caller of a failed write, and keeps going", async () => {
    let fail = true;
    const coalescer = new EnqueueCoalescer(async () => {
      if (fail) throw new Error("redis down");
    }, 1_000);
    await expect(coalescer.enqueue(batch(1))).rejects.toThrow("redis down");
    fail = false;
    await expect(coalescer.enqueue(batch(1))).resolves.toBeUndefined();
    await coalescer.drain();
  });

  it("starts writes at least the interval apart, so evenly arriving requests share a job", async () => {
    const writes: { at: number; events: number }[] = [];
    const coalescer = new EnqueueCoalescer(
      async (jobs) => {
        writes.push({ at: performance.now(), events: jobs.reduce((n, j) => n + j.accepted.length, 0) });
      },
      1_000,
      20,
    );
    const sent: Promise<void>[] = [];
    // One request every 2 ms for 100 ms: without the interval, each would go out alone.
    for (let i = 0; i < 50; i++) {
      sent.push(coalescer.enqueue(batch(1)));
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(sent);
    await coalescer.drain();
    expect(writes.reduce((n, w) => n + w.events, 0)).toBe(50);
    expect(writes[0]?.events).toBe(1);
    expect(writes.length).toBeLessThanOrEqual(10);
    for (let i = 1; i < writes.length; i++) {
      expect((writes[i]?.at ?? 0) - (writes[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(18);
    }
  });
});
