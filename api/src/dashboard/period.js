/** The period picker's choices as the report routes' date_from, date_to (plain dates, inclusive). */
export const PRESETS = [7, 30, 90];

/** Today's date in a time zone, as YYYY-MM-DD. */
export function today(timeZone) {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(new Date());
  const part = (type) => parts.find((p) => p.type === type)?.value;
  return `${part("year")}-${part("month")}-${part("day")}`;
}

export function addDays(date, days) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** { preset: 7 | 30 | 90 } is the last N days up to today; { preset: "custom", from, to } as given. */
export function periodRange(period, timeZone) {
  if (period.preset === "custom") return { date_from: period.from, date_to: period.to };
  const to = today(timeZone);
  return { date_from: addDays(to, 1 - period.preset), date_to: to };
}

/** Hours for a period of two days or less, weeks beyond 120 days, days between. */
export function granularityFor(range) {
  const days = (Date.parse(range.date_to) - Date.parse(range.date_from)) / 86_400_000 + 1;
  if (days <= 2) return "hour";
  return days > 120 ? "week" : "day";
}

export function browserTimeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

export function timeZones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
}
