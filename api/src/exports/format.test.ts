import { parsePeriod } from "@funnel/metrics";
import { describe, expect, it } from "vitest";
import { currencyOf, formatMoney, formatPercent, formatPeriod, percentOf } from "./format";

/**
 * What an export says about its period, money and rates, for periods asked the way the routes take
 * them (plain dates are inclusive; a date-time is exclusive) in several time zones.
 */

const asked = (date_from: string, date_to: string, tz: string) => {
  const p = parsePeriod({ date_from, date_to, tz });
  return formatPeriod({ start: p.start.toISOString(), end: p.end.toISOString(), time_zone: p.timeZone });
};

describe("the period", () => {
  it.each([
    ["2026-11-01", "2026-12-07", "UTC", "1 Nov – 7 Dec 2026"],
    ["2026-11-01", "2026-12-07", "Europe/Berlin", "1 Nov – 7 Dec 2026"],
    // Daylight saving time ends on 1 Nov 2026 in New York: the period still starts and ends at midnight.
    ["2026-11-01", "2026-12-07", "America/New_York", "1 Nov – 7 Dec 2026"],
    ["2026-12-01", "2026-12-07", "Asia/Kathmandu", "1–7 Dec 2026"],
    ["2025-12-28", "2026-01-03", "Pacific/Auckland", "28 Dec 2025 – 3 Jan 2026"],
    ["2026-12-07", "2026-12-07", "UTC", "7 Dec 2026"],
    // A date-time end is exclusive: up to 8 Dec 00:00 is through 7 Dec.
    ["2026-11-01", "2026-12-08T00:00:00Z", "UTC", "1 Nov – 7 Dec 2026"],
  ])("%s to %s in %s reads %s, its last day included", (from, to, tz, text) => {
    expect(asked(from, to, tz)).toBe(text);
  });

  it("shows the times of a period that does not start and end at midnight", () => {
    expect(asked("2026-12-07T09:30:00Z", "2026-12-07T15:00:00Z", "UTC")).toBe(
      "7 Dec 2026, 09:30 – 7 Dec 2026, 15:00",
    );
    expect(asked("2026-12-07T09:30:00Z", "2026-12-08T15:00:00Z", "Asia/Tokyo")).toBe(
      "7 Dec 2026, 18:30 – 9 Dec 2026, 00:00",
    );
  });
});

describe("money and rates", () => {
  it("shows minor units as amounts of the currency, negative ones too", () => {
    const usd = currencyOf("USD");
    expect(formatMoney(13_741_799, usd)).toBe("$137,417.99");
    expect(formatMoney(-1_500, usd)).toBe("-$15.00");
    expect(formatMoney(0, usd)).toBe("$0.00");
    expect(formatMoney(123.456, usd)).toBe("$1.23");
    // A currency without cents, and one of another symbol.
    expect(formatMoney(1_500, currencyOf("JPY"))).toBe("¥1,500");
    expect(formatMoney(250_075, currencyOf("EUR"))).toBe("€2,500.75");
  });

  it("refuses a currency code that is not one, naming it", () => {
    expect(() => currencyOf("dollars")).toThrow(/currency: "dollars"/);
  });

  it("shows a rate, a fraction, as its percentage", () => {
    expect(formatPercent(0.4872)).toBe("48.72%");
    expect(formatPercent(1)).toBe("100.00%");
    expect(percentOf(0.4872)).toBe(48.72);
    expect(percentOf(0.0057)).toBe(0.57);
  });
});
