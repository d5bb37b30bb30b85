import { GRANULARITIES } from "@funnel/metrics";
import { z } from "@hono/zod-openapi";

/** Request and response pieces every report route shares, for validation and the OpenAPI document. */

export const funnelParam = z.object({
  funnel_id: z.uuid().openapi({ param: { name: "funnel_id", in: "path" }, description: "The funnel's id" }),
});

const periodQuery = {
  date_from: z.string().openapi({ description: "Inclusive: YYYY-MM-DD or an ISO8601 date-time" }),
  date_to: z
    .string()
    .openapi({ description: "A plain date is inclusive (the whole day); a date-time is exclusive" }),
  tz: z.string().optional().openapi({ description: "IANA time zone of dates and buckets, default UTC" }),
};

export const periodOnlyQuery = z.object(periodQuery);

export const bucketedQuery = z.object({
  ...periodQuery,
  granularity: z.enum(GRANULARITIES).optional().openapi({
    description: "Bucket of over_time, in the report's time zone (weeks start on Monday); default day",
  }),
});

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
