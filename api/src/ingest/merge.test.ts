import { describe, expect, it } from "vitest";
import { WriteMerger } from "./merge";

/** A write the test releases by hand, recording what each call carried. */
function harness(
  fail: (items: string[]) => unknown = () => undefined,
  writers = 1,
  minIntervalMs = 0,
  moreCanCome?: () => boolean,
) {
  const calls: string[][] = [];
  const releases: (() => void)[] = [];
  const merger = new WriteMerger<string>({
    maxEvents: 5,
    writers,
    minIntervalMs,
    moreCanCome,
    sizeOf: (item) => item.length,
    isPermanent: (error) => error instanceof Error && error.message.startsWith("bad"),
    write: (items) => {
      calls.push(items);
      return new Promise<void>((resolve, reject) => {
        releases.push(() => {
          const error = fail(items);
          if (error) reject(error);
          else resolve();
        });
      });
    },
  });
  const releaseAll = async () => {
    for (let i = 0; i < 20 && releases.length > 0; i++) {
      releases.shift()?.();
      await new Promise((r) => setTimeout(r, 0));
    }
  };
  return { merger, calls, releaseAll };
}

const settle = (p: Promise<void>) =>
  p.then(
    () => "ok",
    (e: Error) => e.message,
  );

describe("WriteMerger", () => {
  it("writes a lone item at once and merges the items that arrive while a write runs", async () => {
    const { merger, calls, releaseAll } = harness();
    const first = settle(merger.submit("a"));
    const later = ["b", "c", "d"].map((item) => settle(merger.submit(item)));
    expect(calls).toEqual([["a"]]);
    await releaseAll();
    expect(await Promise.all([first, ...later])).toEqual(["ok", "ok", "ok", "ok"]);
    expect(calls).toEqual([["a"], ["b", "c", "d"]]);
  });

  it("runs up to `writers` writes at once, the next one carrying what arrived meanwhile", async () => {
    const { merger, calls, releaseAll } = harness(undefined, 2);
    const all = ["a", "b", "c", "d"].map((item) => settle(merger.submit(item)));
    expect(calls).toEqual([["a"], ["b"]]);
    await releaseAll();
    expect(await Promise.all(all)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(calls).toEqual([["a"], ["b"], ["c", "d"]]);
  });

  it("keeps a merged write within the event limit and lets a larger item go alone", async () => {
    const { merger, calls, releaseAll } = harness();
    const all = ["a", "bb", "ccc", "dddddd", "e"].map((item) => settle(merger.submit(item)));
    await releaseAll();
    expect(await Promise.all(all)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
    expect(calls).toEqual([["a"], ["bb", "ccc"], ["dddddd"], ["e"]]);
  });

  it("starts writes at least the interval apart, merging what arrives meanwhile; after a quiet moment at once", async () => {
    const { merger, calls, releaseAll } = harness(undefined, 1, 80);
    const first = settle(merger.submit("a"));
    expect(calls).toEqual([["a"]]);
    await releaseAll();
    const soon = [settle(merger.submit("b")), settle(merger.submit("c"))];
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual([["a"]]);
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toEqual([["a"], ["b", "c"]]);
    await releaseAll();
    await new Promise((r) => setTimeout(r, 100));
    const quiet = settle(merger.submit("d"));
    expect(calls).toEqual([["a"], ["b", "c"], ["d"]]);
    await releaseAll();
    expect(await Promise.all([first, ...soon, quiet])).toEqual(["ok", "ok", "ok", "ok"]);
  });

  it("does not hold back a full write for the interval, and holds the next small one again", async () => {
    const { merger, calls, releaseAll } = harness(undefined, 1, 150);
    const first = settle(merger.submit("a"));
    await releaseAll();
    const held = settle(merger.submit("bb"));
    expect(calls).toEqual([["a"]]);
    const full = settle(merger.submit("ccc"));
    expect(calls).toEqual([["a"], ["bb", "ccc"]]);
    await releaseAll();
    const next = settle(merger.submit("d"));
    expect(calls).toEqual([["a"], ["bb", "ccc"]]);
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toEqual([["a"], ["bb", "ccc"], ["d"]]);
    await releaseAll();
    expect(await Promise.all([first, held, full, next])).toEqual(["ok", "ok", "ok", "ok"]);
  });

  it("does not wait out the interval once no more items can come", async () => {
    let more = true;
    const { merger, calls, releaseAll } = harness(undefined, 1, 60_000, () => more);
    const first = settle(merger.submit("a"));
    await releaseAll();
    const held = [settle(merger.submit("b")), settle(merger.submit("c"))];
    expect(calls).toEqual([["a"]]);
    more = false;
    held.push(settle(merger.submit("d")));
    expect(calls).toEqual([["a"], ["b", "c", "d"]]);
    await releaseAll();
    more = true;
    held.push(settle(merger.submit("e")));
    expect(calls).toEqual([["a"], ["b", "c", "d"]]);
    more = false;
    merger.poke();
    expect(calls).toEqual([["a"], ["b", "c", "d"], ["e"]]);
    await releaseAll();
    expect(await Promise.all([first, ...held])).toEqual(["ok", "ok", "ok", "ok", "ok"]);
  });

  it("writes the items of a merged write alone after a permanent error: only the bad one fails", async () => {
    const { merger, calls, releaseAll } = harness((items) =>
      items.includes("x") ? new Error("bad value") : undefined,
    );
    const first = settle(merger.submit("a"));
    const later = ["b", "x", "c"].map((item) => settle(merger.submit(item)));
    await releaseAll();
    expect(await Promise.all([first, ...later])).toEqual(["ok", "ok", "bad value", "ok"]);
    expect(calls).toEqual([["a"], ["b", "x", "c"], ["b"], ["x"], ["c"]]);
  });

  it("fails every item of a write on an error a retry may cure, and goes on with the next", async () => {
    let down = true;
    const { merger, calls, releaseAll } = harness(() => (down ? new Error("connection reset") : undefined));
    const first = settle(merger.submit("a"));
    const second = settle(merger.submit("b"));
    const third = settle(merger.submit("c"));
    await releaseAll();
    expect(await Promise.all([first, second, third])).toEqual([
      "connection reset",
      "connection reset",
      "connection reset",
    ]);
    down = false;
    const again = settle(merger.submit("b"));
    await releaseAll();
    expect(await again).toBe("ok");
    expect(calls).toEqual([["a"], ["b", "c"], ["b"]]);
  });
});
