import { localTimeOf } from "@funnel/metrics";

/**
 * How an export shows money, rates and times to the person reading it: amounts in the account's
 * currency (the reports count minor units, "cents"), rates as percentages, times as dates in the
 * report's time zone. Every renderer formats through these, so a CSV, an XLSX and a PDF of one
 * report read alike.
 */

/** What a renderer needs beyond the document; the currency will come from an account setting. */
export interface RenderOptions {
  /** ISO 4217 code of the amounts' currency. */
  currency: string;
}

export const DEFAULT_CURRENCY = "USD";
export const DEFAULT_RENDER_OPTIONS: RenderOptions = { currency: DEFAULT_CURRENCY };

export interface Currency {
  code: string;
  /** "$", "€", "£"; the code itself for a currency without a short symbol. */
  symbol: string;
  /** Digits of its minor unit: 2 for USD (cents), 0 for JPY. */
  digits: number;
}

const currencies = new Map<string, Currency>();

/** The currency of an ISO 4217 code; an unknown code is an error naming it. */
export function currencyOf(code: string): Currency {
  let currency = currencies.get(code);
  if (!currency) {
    let format: Intl.NumberFormat;
    try {
      format = new Intl.NumberFormat("en-US", {
        style: "currency",
        currency: code,
        currencyDisplay: "narrowSymbol",
      });
    } catch {
      throw new RangeError(`currency: ${JSON.stringify(code)} is not an ISO 4217 code`);
    }
    const symbol = format.formatToParts(0).find((p) => p.type === "currency")?.value ?? code;
    currency = { code, symbol, digits: format.resolvedOptions().maximumFractionDigits ?? 2 };
    currencies.set(code, currency);
  }
  return currency;
}

/** Minor units (cents) as an amount of the currency: 13741799 → 137417.99. */
export function amountOf(minor: number, currency: Currency): number {
  return minor / 10 ** currency.digits;
}

/** "$137,417.99", "-$1,500.00". */
export function formatMoney(minor: number, currency: Currency): string {
  const amount = amountOf(minor, currency);
  const digits = amount.toLocaleString("en-US", {
    minimumFractionDigits: currency.digits,
    maximumFractionDigits: currency.digits,
  });
  return amount < 0 ? `-${currency.symbol}${digits.slice(1)}` : `${currency.symbol}${digits}`;
}

/** A rate (a fraction, 0.4872) as the percentage it is shown as: 48.72 (float noise removed). */
export function percentOf(rate: number): number {
  return Number((rate * 100).toPrecision(12));
}

/** 0.4872 → "48.72%". */
export function formatPercent(rate: number): string {
  return `${(rate * 100).toFixed(2)}%`;
}

/** 1234 → "1,234"; a fraction keeps up to 2 decimals. */
export function formatNumber(value: number): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, width = 2) => String(n).padStart(width, "0");

export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock time in `timeZone` of an ISO instant. */
export function wallTimeOf(iso: string, timeZone: string): WallTime {
  return localTimeOf(new Date(iso), timeZone);
}

/** A wall time as a Date whose UTC fields are that wall time: what a spreadsheet date cell holds. */
export function wallTimeAsUtc(t: WallTime): Date {
  return new Date(Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second));
}

/** "2026-12-07" */
export function isoDay(t: WallTime): string {
  return `${t.year}-${pad(t.month)}-${pad(t.day)}`;
}

/** "2026-12-07 14:05:09": what spreadsheets read as a date and time. */
export function isoDateTime(t: WallTime): string {
  return `${isoDay(t)} ${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}`;
}

/** "7 Dec 2026" */
export function formatDay(t: WallTime): string {
  return `${t.day} ${MONTHS[t.month - 1]} ${t.year}`;
}

/** "7 Dec 2026, 14:05" */
export function formatDateTime(t: WallTime): string {
  return `${formatDay(t)}, ${pad(t.hour)}:${pad(t.minute)}`;
}

const isMidnight = (t: WallTime) => t.hour === 0 && t.minute === 0 && t.second === 0;

/**
 * A report's period as people write it, in its time zone, with its last day included: the period
 * [1 Nov, 8 Dec) reads "1 Nov – 7 Dec 2026"; one within a month "1–7 Dec 2026"; a single day
 * "7 Dec 2026". A period that does not start and end at midnight shows its times.
 */
export function formatPeriod(period: { start: string; end: string; time_zone: string }): string {
  const from = wallTimeOf(period.start, period.time_zone);
  const to = wallTimeOf(period.end, period.time_zone);
  if (!isMidnight(from) || !isMidnight(to)) return `${formatDateTime(from)} – ${formatDateTime(to)}`;
  // The end is exclusive: the last day is the one before it.
  const last = wallTimeOf(new Date(Date.parse(period.end) - 1).toISOString(), period.time_zone);
  if (from.year !== last.year) return `${formatDay(from)} – ${formatDay(last)}`;
  if (from.month !== last.month)
    return `${from.day} ${MONTHS[from.month - 1]} – ${last.day} ${MONTHS[last.month - 1]} ${last.year}`;
  if (from.day !== last.day) return `${from.day}–${last.day} ${MONTHS[last.month - 1]} ${last.year}`;
  return formatDay(from);
}
