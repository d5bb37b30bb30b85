import { describe, expect, it } from "vitest";
import { dropOffSuggestions, type StepInsightInput } from "./drop-off-insights";

const quiet: StepInsightInput = {
  segments: [],
  avgTimeSeconds: 40,
  funnelAvgTimesSeconds: [30, 40, 50],
  exits: 100,
  backwardExits: 5,
  reasons: [],
};

describe("dropOffSuggestions", () => {
  it("says nothing when the figures show nothing", () => {
    expect(dropOffSuggestions(quiet)).toEqual([]);
  });

  it("names a device that drops off significantly more than the step's other visits, with its figures", () => {
    // Mobile: 120 of 200 drop off (60 %); desktop: 60 of 300 (20 %). z ≈ 8.9, far beyond 0.05.
    const [suggestion, ...rest] = dropOffSuggestions({
      ...quiet,
      segments: [
        { dimension: "device", value: "mobile", visits: 200, dropOffs: 120 },
        { dimension: "device", value: "desktop", visits: 300, dropOffs: 60 },
      ],
    });
    expect(rest).toEqual([]);
    expect(suggestion).toContain("on mobile");
    expect(suggestion).toContain("60.0 %");
    expect(suggestion).toContain("20.0 %");
    expect(suggestion).toContain("120 of 200");
    expect(suggestion).toContain("Holm–Bonferroni over 2 segments");
  });

  it("does not flag a difference that chance explains, nor a segment too small to test", () => {
    expect(
      dropOffSuggestions({
        ...quiet,
        segments: [
          { dimension: "browser", value: "Safari", visits: 100, dropOffs: 24 },
          { dimension: "browser", value: "Chrome", visits: 100, dropOffs: 20 },
          { dimension: "source", value: "tiny", visits: 10, dropOffs: 10 },
          { dimension: "source", value: "direct", visits: 190, dropOffs: 34 },
        ],
      }),
    ).toEqual([]);
  });

  it("flags a step more than twice as slow as the funnel's median step", () => {
    const [suggestion] = dropOffSuggestions({
      ...quiet,
      avgTimeSeconds: 130,
      funnelAvgTimesSeconds: [30, 50, 130],
    });
    expect(suggestion).toBe(
      "Visitors spend 130 s on this step on average, 2.6 times the median of the funnel's steps (50 s): shorten or simplify it.",
    );
  });

  it("flags back-navigation from a fifth of the exits", () => {
    const [suggestion] = dropOffSuggestions({ ...quiet, exits: 100, backwardExits: 20 });
    expect(suggestion).toContain("20.0 % of the exits from this step (20 of 100) go back");
    expect(dropOffSuggestions({ ...quiet, exits: 100, backwardExits: 19 })).toEqual([]);
  });

  it("quotes a reason given for at least half of the exits that leave or go back", () => {
    const reasons = [
      { reason: "shipping_cost", count: 12, fromMetadata: true },
      { reason: "bounce", count: 8, fromMetadata: false },
    ];
    expect(dropOffSuggestions({ ...quiet, reasons })).toEqual([
      '"shipping_cost" is the reason given for 60.0 % of the exits that leave the funnel or go back from this step (12 of 20): address it on this step.',
    ]);
    // An outcome is not a reason a visitor gave.
    expect(
      dropOffSuggestions({ ...quiet, reasons: [{ reason: "bounce", count: 20, fromMetadata: false }] }),
    ).toEqual([]);
  });
});
