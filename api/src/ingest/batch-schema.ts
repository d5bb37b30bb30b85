import { acceptedEvent, isStorableText, LIMITS, UNSTORABLE_TEXT_MESSAGE } from "@funnel/events";
import { z } from "zod";

/**
 * An accepted event as it arrives from outside this process (the edge worker's batches, a job read
 * back from Redis): the wire shape plus the column limits, so one bad event is refused on its own
 * instead of failing the database write of the whole batch it travels in.
 */
const bounded = (max: number) =>
  z
    .string()
    .max(max, { message: `must be at most ${max} characters` })
    .refine(isStorableText, { message: UNSTORABLE_TEXT_MESSAGE });

export const storedEvent = acceptedEvent.extend({
  ip_address: z.union([z.ipv4(), z.ipv6()], { message: "must be an IPv4 or IPv6 address" }).nullable(),
  value_cents: z.number().int().min(0).max(2_147_483_647).nullable(),
  order_id: bounded(LIMITS.orderIdLength).nullable(),
  url: bounded(LIMITS.urlLength).nullable(),
  referrer: bounded(LIMITS.urlLength).nullable(),
  utm_source: bounded(LIMITS.utmLength).nullable(),
  utm_medium: bounded(LIMITS.utmLength).nullable(),
  utm_campaign: bounded(LIMITS.utmLength).nullable(),
  user_agent: bounded(LIMITS.userAgentLength).nullable(),
});

export const fieldError = z.object({ field: z.string(), message: z.string() });

export const rejectedItem = z.object({
  index: z.number().int().min(0),
  errors: z.array(fieldError),
  raw: z.unknown(),
});

/**
 * A queued job's payload (`IngestBatch` in ports.ts is its TypeScript twin). Events are checked one
 * by one (`storedEvent`), so that one bad event is refused alone rather than failing its batch.
 */
export const ingestBatchEnvelope = z.object({
  source: z.enum(["track", "import", "edge"]),
  accountId: z.uuid().nullable(),
  accepted: z.array(z.unknown()),
  rejected: z.array(rejectedItem),
});
