import { describe, expect, it } from "vitest";
import { DEFAULT_RUN_MS, runTimesOf } from "./estimate-completion";

/** What an export is expected to take, from the latest runs (newest first, as the query gives them). */

const run = (reportType: string, format: string, ms: number) => ({ reportType, format, ms });

describe("expected run times", () => {
  it("are the median of the latest runs of the same report and format", () => {
    const times = runTimesOf([
      run("overview", "csv", 300),
      run("conversions", "xlsx", 9_000),
      run("overview", "csv", 200),
      run("overview", "csv", 4_000),
    ]);
    // The cold 4 s run does not stretch the overview's estimate, nor the conversions export's.
    expect(times.of("overview", "csv")).toBe(300);
    expect(times.of("conversions", "xlsx")).toBe(9_000);
  });

  it("follow the latest five runs of a kind, not older ones", () => {
    const recent = [100, 120, 110, 130, 90].map((ms) => run("revenue", "pdf", ms));
    const older = [5_000, 5_000, 5_000, 5_000, 5_000].map((ms) => run("revenue", "pdf", ms));
    expect(runTimesOf([...recent, ...older]).of("revenue", "pdf")).toBe(110);
  });

  it("fall back on all recent runs for a kind never run, and on a default with none", () => {
    const times = runTimesOf([
      run("overview", "csv", 300),
      run("dropoffs", "pdf", 700),
      run("revenue", "csv", 500),
    ]);
    expect(times.of("conversions", "pdf")).toBe(500);
    expect(times.typical).toBe(500);
    expect(runTimesOf([]).of("overview", "csv")).toBe(DEFAULT_RUN_MS);
  });
});
