import { GRANULARITIES } from "@funnel/metrics";
import { z } from "@hono/zod-openapi";

/** Request and response pieces every report route shares, for validation and the OpenAPI document. */

export const funnelParam = z.object({
  funnel_id: z.uuid().openapi({ param: { name: "funnel_id", in: "path" }, description: "The funnel's id" }),
});

/**
 * The period of every report (and export): both bounds optional, defaulting to the last 30 days in
 * `tz` (packages/metrics period.ts); the descriptions state the rule as the code applies it.
 */
export const periodFields = {
  date_from: z
    .string()
    .optional()
    .openapi({
      description:
        "Inclusive: YYYY-MM-DD or an ISO8601 date-time. Optional. Left out: 29 days before a plain date_to " +
        "(30 days inclusive), 30 days before a date-time date_to; with date_to left out too, the last 30 days " +
        "in tz: date_from = today in tz minus 29 days, date_to = today in tz.",
      example: "2026-03-01",
    }),
  date_to: z
    .string()
    .optional()
    .openapi({
      description:
        "A plain date is inclusive (the whole day); a date-time is exclusive. Optional. Left out: today in tz " +
        "(a plain date, inclusive), so that a date_from alone runs through today.",
      example: "2026-03-30",
    }),
  tz: z
    .string()
    .optional()
    .openapi({ description: "IANA time zone of the dates, the buckets and the default period; default UTC" }),
};

export const periodOnlyQuery = z.object(periodFields);

export const bucketedQuery = z.object({
  ...periodFields,
  granularity: z.enum(GRANULARITIES).optional().openapi({
    description: "Bucket of over_time, in the report's time zone (weeks start on Monday); default day",
  }),
});

/** Every report's freshness, its last field. */
export const freshness = {
  data_through: z.iso
    .datetime()
    .nullable()
    .openapi({
      description:
        "Every event of the account stored before this time is counted: rollups are derived a moment after " +
        "events are stored, and a cached report keeps the time it was built with. Null before the account's first event",
    }),
};

export const periodSchema = z
  .object({ start: z.iso.datetime(), end: z.iso.datetime(), time_zone: z.string() })
  .openapi({ description: "The resolved half-open interval [start, end)" });

export const rateSchema = (description: string) =>
  z
    .number()
    .min(0)
    .max(1)
    .openapi({ description: `${description}; a fraction, 4 decimals` });

export const count = (description: string) => z.number().int().openapi({ description });
