import { describe, expect, it } from "vitest";
import { DEFAULT_PERIOD_DAYS, PeriodError, parsePeriod, periodBounds } from "./period";
import { averageCents, rate, roundTo } from "./rounding";

const iso = (input: Parameters<typeof parsePeriod>[0]) => {
  const p = parsePeriod(input);
  return [p.start.toISOString(), p.end.toISOString()];
};

function expectError(input: Parameters<typeof parsePeriod>[0], field: string, message: RegExp) {
  try {
    parsePeriod(input);
  } catch (error) {
    expect(error).toBeInstanceOf(PeriodError);
    expect((error as PeriodError).field).toBe(field);
    expect((error as PeriodError).message).toMatch(message);
    return;
  }
  throw new Error("expected a PeriodError");
}

describe("parsePeriod", () => {
  it("takes plain dates inclusively, in UTC by default", () => {
    expect(iso({ date_from: "2026-03-01", date_to: "2026-03-31" })).toEqual([
      "2026-03-01T00:00:00.000Z",
      "2026-04-01T00:00:00.000Z",
    ]);
    expect(iso({ date_from: "2026-03-05", date_to: "2026-03-05" })).toEqual([
      "2026-03-05T00:00:00.000Z",
      "2026-03-06T00:00:00.000Z",
    ]);
  });

  it("takes a date-time date_to exclusively, with or without an offset", () => {
    expect(iso({ date_from: "2026-03-01T08:00:00Z", date_to: "2026-03-01T09:30:00.250+01:00" })).toEqual([
      "2026-03-01T08:00:00.000Z",
      "2026-03-01T08:30:00.250Z",
    ]);
    expect(
      iso({ date_from: "2026-03-01T08:00", date_to: "2026-03-02T00:00", tz: "America/New_York" }),
    ).toEqual(["2026-03-01T13:00:00.000Z", "2026-03-02T05:00:00.000Z"]);
  });

  it("reads plain dates in the report's time zone, across a DST change", () => {
    // Berlin moves to summer time on 2026-03-29: that day has 23 hours.
    expect(iso({ date_from: "2026-03-29", date_to: "2026-03-29", tz: "Europe/Berlin" })).toEqual([
      "2026-03-28T23:00:00.000Z",
      "2026-03-29T22:00:00.000Z",
    ]);
    expect(iso({ date_from: "2026-01-01", date_to: "2026-01-01", tz: "Asia/Kolkata" })).toEqual([
      "2025-12-31T18:30:00.000Z",
      "2026-01-01T18:30:00.000Z",
    ]);
  });

  it("allows 366 days and refuses 367, counted in calendar days of the zone", () => {
    expect(iso({ date_from: "2025-01-01", date_to: "2026-01-01", tz: "Europe/Berlin" })[1]).toBe(
      "2026-01-01T23:00:00.000Z",
    );
    expectError({ date_from: "2025-01-01", date_to: "2026-01-02" }, "date_to", /longer than 366 days/);
    expectError(
      { date_from: "2025-01-01T00:00Z", date_to: "2026-01-02T00:00:00.001Z" },
      "date_to",
      /longer than 366 days/,
    );
  });

  it("names the parameter of every refusal", () => {
    expectError({ date_from: "2026-03-02", date_to: "2026-03-01" }, "date_from", /after date_to/);
    expectError({ date_from: "yesterday", date_to: "2026-03-01" }, "date_from", /must be a date/);
    expectError({ date_from: "2026-02-30", date_to: "2026-03-01" }, "date_from", /not a valid date/);
    expectError({ date_from: "2026-02-01", date_to: "2026-03-01T25:00" }, "date_to", /not a valid/);
    expectError({ date_from: "2026-02-30", date_to: "2026-03-01T25:00" }, "date_from", /not a valid/);
    expectError({ date_from: "2026-03-01", date_to: "2026-03-02", tz: "Mars/Olympus" }, "tz", /IANA/);
  });
});

describe("parsePeriod's defaults", () => {
  // 23:30 UTC on 10 March is already 11 March in Berlin and still 10 March in New York.
  const now = new Date("2026-03-10T23:30:00Z");
  const at = (input: Parameters<typeof parsePeriod>[0]) => {
    const p = parsePeriod(input, now);
    return [p.start.toISOString(), p.end.toISOString()];
  };

  it("without dates: the last 30 days in the zone, today included", () => {
    expect(DEFAULT_PERIOD_DAYS).toBe(30);
    expect(at({})).toEqual(["2026-02-09T00:00:00.000Z", "2026-03-11T00:00:00.000Z"]);
    expect(at({ tz: "Europe/Berlin" })).toEqual(["2026-02-09T23:00:00.000Z", "2026-03-11T23:00:00.000Z"]);
    expect(at({ tz: "America/New_York" })).toEqual(["2026-02-09T05:00:00.000Z", "2026-03-11T04:00:00.000Z"]);
    expect(periodBounds({ tz: "Europe/Berlin" }, now)).toEqual({
      date_from: "2026-02-10",
      date_to: "2026-03-11",
      tz: "Europe/Berlin",
    });
    // An empty parameter is one left out.
    expect(at({ date_from: "", date_to: "", tz: "" })).toEqual(at({}));
  });

  it("date_from alone runs through today; date_to alone ends 30 days from its start", () => {
    expect(at({ date_from: "2026-03-01", tz: "Europe/Berlin" })).toEqual([
      "2026-02-28T23:00:00.000Z",
      "2026-03-11T23:00:00.000Z",
    ]);
    expect(periodBounds({ date_to: "2026-01-31" }, now)).toEqual({
      date_from: "2026-01-02",
      date_to: "2026-01-31",
      tz: "UTC",
    });
    expect(at({ date_to: "2026-01-31" })).toEqual(["2026-01-02T00:00:00.000Z", "2026-02-01T00:00:00.000Z"]);
    // A date-time date_to: 30 calendar days of the zone before it (Berlin's clocks move on 29 March).
    expect(at({ date_to: "2026-04-15T12:00", tz: "Europe/Berlin" })).toEqual([
      "2026-03-16T11:00:00.000Z",
      "2026-04-15T10:00:00.000Z",
    ]);
  });

  it("names the bound the client gave when the default makes the period wrong", () => {
    const refused = (input: Parameters<typeof parsePeriod>[0], field: string, message: RegExp) => {
      try {
        parsePeriod(input, now);
      } catch (error) {
        expect(error).toBeInstanceOf(PeriodError);
        expect((error as PeriodError).field).toBe(field);
        expect((error as PeriodError).message).toMatch(message);
        return;
      }
      throw new Error("expected a PeriodError");
    };
    refused({ date_from: "2026-03-12", tz: "Europe/Berlin" }, "date_from", /after today in Europe\/Berlin/);
    refused({ date_from: "2025-03-09" }, "date_from", /longer than 366 days/);
    refused({ date_to: "2026-02-30" }, "date_to", /not a valid date/);
    refused({ tz: "Mars/Olympus" }, "tz", /IANA/);
  });
});

describe("rounding rules", () => {
  it("rounds rates to 4 decimals, 0 over nothing", () => {
    expect(rate(1, 3)).toBe(0.3333);
    expect(rate(2, 3)).toBe(0.6667);
    expect(rate(5, 0)).toBe(0);
    expect(roundTo(1.00005, 4)).toBe(1.0001);
  });

  it("rounds averages of cents half away from zero", () => {
    expect(averageCents(5, 2)).toBe(3);
    expect(averageCents(-5, 2)).toBe(-3);
    expect(averageCents(7, 0)).toBe(0);
  });
});
