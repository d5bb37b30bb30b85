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

/** Limits stated in docs/architecture.md ("Limits"); a field past them is rejected, never truncated silently. */
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
    product_id: {
      type: "string",
      description: "The product's id; the revenue report's top_products adds up lines per product_id",
      example: "sku-1",
    },
    product_name: { type: "string", description: "Shown with the product_id in reports", example: "Bundle" },
    quantity: { type: "integer", ...QUANTITY, description: "Units on the line", example: 1 },
    price_cents: {
      type: "integer",
      ...PRICE_CENTS,
      description: "Price of one unit in cents; the line's revenue is quantity × price_cents",
      example: 4900,
    },
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
    description: `Any JSON object (at most ${LIMITS.metadataBytes} bytes, ${LIMITS.metadataDepth} levels). Two keys are read by reports: \`products\`, an order's lines (on a purchase), and \`reason\`, why a visitor left (on a step_exit).`,
    properties: {
      products: {
        type: "array",
        items: productLineDoc,
        description: "A conversion's order lines, for the revenue report's top_products",
        example: [{ product_id: "sku-1", product_name: "Bundle", quantity: 1, price_cents: 4900 }],
      },
      reason: {
        type: "string",
        description:
          "On a step_exit: why the visitor left, grouped as the drop-off report's common exit reasons",
        example: "price_too_high",
      },
    },
    example: { products: [{ product_id: "sku-1", product_name: "Bundle", quantity: 1, price_cents: 4900 }] },
  });

/** A field's description and example in /openapi.json (zod's own metadata: nothing the edge lacks). */
const doc = <T extends z.ZodType>(schema: T, description: string, example: unknown): T =>
  schema.meta({ description, example });

const EXAMPLE_STEP_ID = "5a1e0000-0000-4000-8000-0000000000a2";

const common = {
  event_id: doc(
    uuid.optional(),
    "The event's own id: an event sent again with the same id is stored once. Default: one given on receipt",
    "0b7c6f5e-3f2a-4c1d-9e8b-2a4d6c8e0f11",
  ),
  funnel_id: doc(
    uuid,
    "One of the account's funnels (POST /api/v1/funnels answers its id)",
    "5a1e0000-0000-4000-8000-000000000001",
  ),
  session_id: doc(
    text(LIMITS.sessionIdLength).min(1, { message: "must not be empty" }),
    "One visit; the tracker's fa_sid cookie, renewed by every event and gone after 30 minutes without one",
    "6f0d2c1e-8b4a-4e3f-a1d2-c3b4a5968778",
  ),
  visitor_id: doc(
    uuid,
    "The visitor across visits; the tracker's fa_vid cookie",
    "7b1e0000-0000-4000-8000-0000000000e1",
  ),
  timestamp: doc(
    z.iso.datetime({ offset: true, message: "must be an ISO8601 date-time" }).optional(),
    "When it happened, with its offset. Default, and when more than 5 minutes ahead: the time it was received",
    "2026-03-14T09:26:53.589Z",
  ),
  page_id: doc(
    uuid.optional(),
    "One of the funnel's pages, where it happened",
    "5a1e0000-0000-4000-8000-0000000000b1",
  ),
  variant_id: doc(
    uuid.optional(),
    "The A/B test variant shown (a variant's id); without it, a visitor's variant is the one whose page it saw first",
    "5a1e0000-0000-4000-8000-0000000000c1",
  ),
  url: doc(
    text(LIMITS.urlLength).optional(),
    "The page's address",
    "https://shop.example.com/spring?utm_source=newsletter",
  ),
  user_agent: doc(
    text(LIMITS.userAgentLength).optional(),
    "The browser's User-Agent (on /track, default the request's header); it decides the session's device, browser, OS and bot",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
  ),
  ip_address: doc(
    z.union([z.ipv4(), z.ipv6()], { message: "must be an IPv4 or IPv6 address" }).optional(),
    "The visitor's address, for /import from a server; /track ignores it and takes the connection's",
    "203.0.113.7",
  ),
  referrer: doc(
    text(LIMITS.urlLength).optional(),
    "The page the visitor came from",
    "https://www.google.com/",
  ),
  utm_source: doc(
    text(LIMITS.utmLength).optional(),
    "Campaign source; the session's traffic source",
    "newsletter",
  ),
  utm_medium: doc(text(LIMITS.utmLength).optional(), "Campaign medium", "email"),
  utm_campaign: doc(text(LIMITS.utmLength).optional(), "Campaign name", "spring-sale"),
  metadata: metadata.optional(),
};

const eventType = <T extends EventType>(type: T) => doc(z.literal(type), "The kind of event", type);

export const pageViewEvent = z.object({
  ...common,
  event_type: eventType("page_view"),
  page_id: doc(uuid, "One of the funnel's pages, the one viewed", "5a1e0000-0000-4000-8000-0000000000b1"),
});

export const conversionEvent = z.object({
  ...common,
  event_type: eventType("conversion"),
  conversion_type: doc(z.enum(CONVERSION_TYPES), "What the visitor did", "purchase"),
  value_cents: doc(
    z.number().int().min(0).max(2_147_483_647).optional(),
    "The conversion's value in cents: the revenue of a purchase",
    4900,
  ),
  conversion_goal_id: doc(
    uuid.optional(),
    "The goal reached, as the funnel builder names goals",
    "9c4e0000-0000-4000-8000-000000000001",
  ),
  order_id: doc(
    text(LIMITS.orderIdLength).optional(),
    "The order's id: a refund names it and counts against the earliest purchase with it",
    "o-1",
  ),
});

export const stepEntryEvent = z.object({
  ...common,
  event_type: eventType("step_entry"),
  funnel_step_id: doc(uuid, "One of the funnel's steps, the one entered", EXAMPLE_STEP_ID),
  previous_step_id: doc(
    uuid.optional(),
    "The step the visitor came from; leave out for a direct entry",
    "5a1e0000-0000-4000-8000-0000000000a1",
  ),
});

export const stepExitEvent = z.object({
  ...common,
  event_type: eventType("step_exit"),
  funnel_step_id: doc(uuid, "One of the funnel's steps, the one left", EXAMPLE_STEP_ID),
  exit_outcome: doc(
    z.enum(EXIT_OUTCOMES),
    "How the step was left: forward (on to the next step), backward, or bounce and close (drop-offs, but at the last step)",
    "forward",
  ),
  next_step_id: doc(
    uuid.optional(),
    "The step the visitor goes on to",
    "5a1e0000-0000-4000-8000-0000000000a3",
  ),
});

export const refundEvent = z.object({
  ...common,
  event_type: eventType("refund"),
  order_id: doc(text(LIMITS.orderIdLength).min(1), "The refunded order: a purchase's order_id", "o-1"),
  value_cents: doc(
    z.number().int().min(1).max(2_147_483_647),
    "The amount refunded in cents, counted up to what the order has left",
    4900,
  ),
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
  /** Null when the event carried no user agent (docs/metrics.md: session attributes). */
  device_type: DeviceType | null;
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
      device_type: z.enum(DEVICE_TYPES).nullable(),
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
