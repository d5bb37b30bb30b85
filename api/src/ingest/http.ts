import { LIMITS, trackEvent } from "@funnel/events";
import { z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { InvalidError, PayloadTooLargeError } from "../errors";

/** What the three ingest routes share: their body limit, JSON parsing and response schema. */

export const fieldErrorSchema = z.object({ field: z.string(), message: z.string() }).openapi("FieldError");

export const acceptResponse = z
  .object({
    accepted: z.number().int().openapi({ description: "Events queued for processing" }),
    rejected: z
      .array(z.object({ index: z.number().int(), errors: z.array(fieldErrorSchema) }))
      .openapi({ description: "Events refused, by their index in the request; kept for operators" }),
  })
  .openapi("AcceptResponse");

export type AcceptResponse = z.infer<typeof acceptResponse>;

/** Documents one event or `{ events: [...] }`; the handler parses the body itself for per-index errors. */
export function eventsBody(maxEvents: number) {
  return z
    .union([trackEvent, z.object({ events: z.array(trackEvent).min(1).max(maxEvents) })])
    .openapi({ description: `One event, or up to ${maxEvents} events as { events: [...] }` });
}

export const trackBodyMaxEvents = LIMITS.eventsPerTrackRequest;
export const importBodyMaxEvents = LIMITS.eventsPerImportRequest;

/** Refuses bodies over `maxBytes` with the shared error body (413), before they are read whole. */
export function limitBody(maxBytes: number) {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new PayloadTooLargeError(maxBytes);
    },
  });
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidError("request body is not JSON", [{ field: "body", message: "must be valid JSON" }]);
  }
}
