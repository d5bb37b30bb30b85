/**
 * Every figure as people read it, in the browser's language and the chosen time zone (Intl).
 * The currency is set here and nowhere else: the API counts money in cents of one currency.
 */
export const CURRENCY = "USD";

const numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const currency = new Intl.NumberFormat(undefined, { style: "currency", currency: CURRENCY });
const percents = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 2 });
const signedPercents = new Intl.NumberFormat(undefined, {
  style: "percent",
  maximumFractionDigits: 2,
  signDisplay: "exceptZero",
});

const compactCurrency = new Intl.NumberFormat(undefined, {
  style: "currency",
  currency: CURRENCY,
  notation: "compact",
});
const compactNumbers = new Intl.NumberFormat(undefined, { notation: "compact" });

const NONE = "—";
const missing = (value) => value === null || value === undefined;

export const count = (value) => (missing(value) ? NONE : numbers.format(value));
export const money = (cents) => (missing(cents) ? NONE : currency.format(cents / 100));
export const percent = (rate) => (missing(rate) ? NONE : percents.format(rate));
export const change = (rate) => (missing(rate) ? NONE : signedPercents.format(rate));

/** Axis ticks: short ($12K, 1.2K), as the axis has little room. */
export const compactMoney = (cents) => compactCurrency.format(cents / 100);
export const compactCount = (value) => compactNumbers.format(value);

/** Seconds as "45 s", "4 min 3 s" or "1 h 2 min". */
export function duration(seconds) {
  if (missing(seconds)) return NONE;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const dateFormats = new Map();
function formatter(timeZone, options) {
  const key = `${timeZone}|${JSON.stringify(options)}`;
  let format = dateFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(undefined, { ...options, timeZone });
    dateFormats.set(key, format);
  }
  return format;
}

export const dateTime = (iso, timeZone) =>
  missing(iso)
    ? NONE
    : formatter(timeZone, { dateStyle: "medium", timeStyle: "medium" }).format(new Date(iso));
export const time = (iso, timeZone) =>
  missing(iso) ? NONE : formatter(timeZone, { timeStyle: "medium" }).format(new Date(iso));
export const day = (iso, timeZone) =>
  missing(iso) ? NONE : formatter(timeZone, { dateStyle: "medium" }).format(new Date(iso));

/** A bucket of an over-time series: its day, or its hour for hourly buckets. */
export const bucket = (iso, timeZone, granularity) =>
  granularity === "hour"
    ? formatter(timeZone, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso))
    : day(iso, timeZone);

/** A plain YYYY-MM-DD (a period's bound) as a date, without moving it through any time zone. */
export const plainDate = (value) =>
  formatter("UTC", { dateStyle: "medium" }).format(new Date(`${value}T00:00:00Z`));
