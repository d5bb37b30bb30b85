import { z } from "zod";
import { hasUnstorableText, isStorableText, nestsDeeperThan, UNSTORABLE_TEXT_MESSAGE } from "./storable";

/**
 * Wire schemas of the tracking API, shared by the edge worker and the Node API.
 * Field names follow SPEC-FUN-004; CONTRACT.md adds `event_id`, `timestamp`, `refund` and `order_id`.
 */

export const EVENT_TYPES = ["page_view", "conversion", "step_entry", "step_exit", "refund"] as const;
export const CONVERSION_TYPES = ["form_submit", "purchase", "signup", "custom"] as const;
export const EXIT_OUTCOMES = ["forward", "backward", "bounce", "close"] as const;

export type EventType = (typeof EVENT_TYPES)[number];
export type ConversionType = (typeof CONVERSION_TYPES)[number];
export type ExitOutcome = (typeof EXIT_OUTCOMES)[number];

/** Limits stated in the README; a field past them is rejected, never truncated silently. */
export const LIMITS = {
  eventsPerTrackRequest: 100,
  eventsPerImportRequest: 10_000,
  metadataBytes: 8_192,
  urlLength: 2_048,
  userAgentLength: 512,
  sessionIdLength: 100,
  utmLength: 255,
  orderIdLength: 100,
  /** Levels of arrays and objects in `metadata` (`{}` is one). */
  metadataDepth: 32,
  /** Levels of arrays and objects in a whole request body. */
  bodyDepth: 64,
  /** Client timestamps later than receive time by more than this are clamped to receive time. */
  futureSkewMs: 5 * 60 * 1000,
} as const;

const uuid = z.uuid({ message: "must be a UUID" });
/** A string the database can store (see storable.ts). */
const storableString = () => z.string().refine(isStorableText, { message: UNSTORABLE_TEXT_MESSAGE });
const text = (max: number) => storableString().max(max, { message: `must be at most ${max} characters` });

/** Any JSON object the database can store; depth is checked first, so nothing below recurses deeply. */
const storableObject = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  if (nestsDeeperThan(value, LIMITS.metadataDepth)) {
    ctx.addIssue({ code: "custom", message: `must nest at most ${LIMITS.metadataDepth} levels` });
  } else if (hasUnstorableText(value)) {
    ctx.addIssue({ code: "custom", message: UNSTORABLE_TEXT_MESSAGE });
  }
});

/** The largest count of cents an event carries (`value_cents`), a PostgreSQL integer. */
const MAX_CENTS = 2_147_483_647;
const QUANTITY = { minimum: 1, maximum: MAX_CENTS };
const PRICE_CENTS = { minimum: 0, maximum: MAX_CENTS };

/** An integer in the range, with one message whatever is wrong (type, fraction or range). */
const integerIn = ({ minimum, maximum }: { minimum: number; maximum: number }) => {
  const message = `must be an integer from ${minimum} to ${maximum}`;
  return z.int({ message, abort: true }).min(minimum, { message }).max(maximum, { message });
};

/**
 * One line of `metadata.products`, as the revenue report reads it: revenue Σ quantity × price_cents
 * per `product_id` (named by `product_name`). A huge, fractional or negative figure there made the
 * report's revenue negative or not a number and exports hold `Infinity`, so both are refused like
 * `value_cents`. A line that leaves one out is kept and left out of the products report.
 */
const productLine = z.looseObject({
  quantity: integerIn(QUANTITY).optional(),
  price_cents: integerIn(PRICE_CENTS).optional(),
});

/** How /openapi.json shows a line: the ranges above, and the fields the report reads as text. */
const productLineDoc = {
  type: "object",
  properties: {
    product_id: { type: "string" },
    product_name: { type: "string" },
    quantity: { type: "integer", ...QUANTITY },
    price_cents: { type: "integer", ...PRICE_CENTS },
  },
};

const metadata = storableObject
  .refine((value) => new TextEncoder().encode(JSON.stringify(value)).byteLength <= LIMITS.metadataBytes, {
    message: `must serialise to at most ${LIMITS.metadataBytes} bytes of JSON`,
    abort: true,
  })
  .superRefine((value, ctx) => {
    // Only an array's object items are order lines; any other `products` is free metadata.
    const products = value.products;
    if (!Array.isArray(products)) return;
    products.forEach((item: unknown, index) => {
      if (item === null || typeof item !== "object" || Array.isArray(item)) return;
      const line = productLine.safeParse(item);
      if (line.success) return;
      for (const issue of line.error.issues)
        ctx.addIssue({ code: "custom", message: issue.message, path: ["products", index, ...issue.path] });
    });
  })
  .meta({
    description: `Any JSON object (at most ${LIMITS.metadataBytes} bytes, ${LIMITS.metadataDepth} levels). \`products\`: an order's lines.`,
    properties: { products: { type: "array", items: productLineDoc } },
  });

const common = {
  event_id: uuid.optional(),
  funnel_id: uuid,
  session_id: text(LIMITS.sessionIdLength).min(1, { message: "must not be empty" }),
  visitor_id: uuid,
  timestamp: z.iso.datetime({ offset: true, message: "must be an ISO8601 date-time" }).optional(),
  page_id: uuid.optional(),
  variant_id: uuid.optional(),
  url: text(LIMITS.urlLength).optional(),
  user_agent: text(LIMITS.userAgentLength).optional(),
  ip_address: z.union([z.ipv4(), z.ipv6()], { message: "must be an IPv4 or IPv6 address" }).optional(),
  referrer: text(LIMITS.urlLength).optional(),
  utm_source: text(LIMITS.utmLength).optional(),
  utm_medium: text(LIMITS.utmLength).optional(),
  utm_campaign: text(LIMITS.utmLength).optional(),
  metadata: metadata.optional(),
};

export const pageViewEvent = z.object({
  ...common,
  event_type: z.literal("page_view"),
  page_id: uuid,
});

export const conversionEvent = z.object({
  ...common,
  event_type: z.literal("conversion"),
  conversion_type: z.enum(CONVERSION_TYPES),
  value_cents: z.number().int().min(0).max(2_147_483_647).optional(),
  conversion_goal_id: uuid.optional(),
  order_id: text(LIMITS.orderIdLength).optional(),
});

export const stepEntryEvent = z.object({
  ...common,
  event_type: z.literal("step_entry"),
  funnel_step_id: uuid,
  previous_step_id: uuid.optional(),
});

export const stepExitEvent = z.object({
  ...common,
  event_type: z.literal("step_exit"),
  funnel_step_id: uuid,
  exit_outcome: z.enum(EXIT_OUTCOMES),
  next_step_id: uuid.optional(),
});

export const refundEvent = z.object({
  ...common,
  event_type: z.literal("refund"),
  order_id: text(LIMITS.orderIdLength).min(1),
  value_cents: z.number().int().min(1).max(2_147_483_647),
});

export const trackEvent = z.discriminatedUnion("event_type", [
  pageViewEvent,
  conversionEvent,
  stepEntryEvent,
  stepExitEvent,
  refundEvent,
]);

/** Every field any event type has, from the schemas above. */
export const EVENT_FIELDS: readonly string[] = [
  ...new Set(
    [pageViewEvent, conversionEvent, stepEntryEvent, stepExitEvent, refundEvent].flatMap((e) =>
      Object.keys(e.shape),
    ),
  ),
];

export type TrackEvent = z.infer<typeof trackEvent>;

/** What the browser or the edge knows about the request, beside the event body. */
export interface RequestContext {
  /** Client IP as resolved by a trusted proxy or the platform; never a client-sent header. */
  ip?: string | undefined;
  userAgent?: string | undefined;
  /** ISO country code from the platform (Cloudflare `request.cf.country`). */
  country?: string | undefined;
  receivedAt: Date;
}

export const DEVICE_TYPES = ["desktop", "mobile", "tablet"] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

export interface Enrichment {
  device_type: DeviceType;
  browser: string | null;
  os: string | null;
  is_bot: boolean;
  country: string | null;
}

/**
 * An event once accepted: validated, with its id and time fixed, so that every retry of the job
 * that carries it writes the same row. This is the payload of the ingest queue and of the
 * edge-to-API batches.
 */
export const acceptedEvent = z.object({
  event_id: uuid,
  event_type: z.enum(EVENT_TYPES),
  funnel_id: uuid,
  session_id: storableString().min(1).max(LIMITS.sessionIdLength),
  visitor_id: uuid,
  occurred_at: z.iso.datetime({ offset: true }),
  received_at: z.iso.datetime({ offset: true }),
  page_id: uuid.nullable(),
  funnel_step_id: uuid.nullable(),
  previous_step_id: uuid.nullable(),
  next_step_id: uuid.nullable(),
  exit_outcome: z.enum(EXIT_OUTCOMES).nullable(),
  conversion_type: z.enum(CONVERSION_TYPES).nullable(),
  value_cents: z.number().int().nullable(),
  conversion_goal_id: uuid.nullable(),
  order_id: storableString().nullable(),
  variant_id: uuid.nullable(),
  url: storableString().nullable(),
  referrer: storableString().nullable(),
  utm_source: storableString().nullable(),
  utm_medium: storableString().nullable(),
  utm_campaign: storableString().nullable(),
  user_agent: storableString().nullable(),
  /** Already truncated unless the account opted in to full IPs (applied by the writer). */
  ip_address: z.string().nullable(),
  metadata: storableObject,
  /** Null when no edge enriched it; the ingest worker fills it from user_agent. */
  enrichment: z
    .object({
      device_type: z.enum(DEVICE_TYPES),
      browser: storableString().nullable(),
      os: storableString().nullable(),
      is_bot: z.boolean(),
      country: storableString().nullable(),
    })
    .nullable(),
});

export type AcceptedEvent = z.infer<typeof acceptedEvent>;

/** An event that failed validation, kept with its reason for operators. */
export interface RejectedEvent {
  index: number;
  errors: FieldError[];
  raw: unknown;
}

export interface FieldError {
  field: string;
  message: string;
}
