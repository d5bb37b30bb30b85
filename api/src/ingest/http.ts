import { LIMITS, nestsDeeperThan, trackEvent } from "@funnel/events";
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { InvalidError } from "../errors";
import { readBodyBytes } from "../http/body-limit";
import { NOT_COUNTED_REASONS } from "./not-counted";

/** What the three ingest routes share: reading their body, JSON parsing and response schema. */

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

/** `/track` and `/import`: the answer also names the accepted events that no report will count. */
export const checkedAcceptResponse = acceptResponse
  .extend({
    not_counted: z
      .array(
        z.object({
          index: z.number().int().openapi({ description: "The event's index in the request" }),
          field: z.string().openapi({ description: "The field that decides it", example: "funnel_id" }),
          reason: z.enum(NOT_COUNTED_REASONS).openapi({
            description:
              "`unknown_funnel`: no such funnel in the catalog (on /import: not one of the key's account's); " +
              "the event is kept aside and counted in no report. `bot_user_agent`: the event's user agent " +
              "(on /track the request's, unless the event has one) is a known bot's; the event and its " +
              "session count in no report (a missing user agent is never a bot's). `unknown_step`: " +
              "`funnel_step_id` is not a step of the funnel; the event counts for the funnel but in none of its steps.",
          }),
          message: z.string(),
        }),
      )
      .openapi({
        description:
          "Accepted (and stored) events that will not be counted, by their index in the request, with the " +
          "one reason that decides most. The catalog is checked as it is when the events arrive; when it " +
          "cannot be read at once, only user agents are checked.",
      }),
  })
  .openapi("CheckedAcceptResponse");

export type CheckedAcceptResponse = z.infer<typeof checkedAcceptResponse>;

/** Documents one event or `{ events: [...] }`; the handler parses the body itself for per-index errors. */
export function eventsBody(maxEvents: number) {
  return z
    .union([trackEvent, z.object({ events: z.array(trackEvent).min(1).max(maxEvents) })])
    .openapi({ description: `One event, or up to ${maxEvents} events as { events: [...] }` });
}

export const trackBodyMaxEvents = LIMITS.eventsPerTrackRequest;
export const importBodyMaxEvents = LIMITS.eventsPerImportRequest;

/** The request body as UTF-8 text, refused past `maxBytes` (413) before it is read whole. */
export async function readBodyText(c: Context, maxBytes: number): Promise<string> {
  return (await readBodyBytes(c, maxBytes)).toString("utf8");
}

/**
 * The body parsed, refused (400) when it is not JSON or nests deeper than `LIMITS.bodyDepth`: every
 * later step (validation, the queue's serialisation, jsonb) may recurse, and must not run out of stack.
 */
export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidError("request body is not JSON", [{ field: "body", message: "must be valid JSON" }]);
  }
  if (nestsDeeperThan(value, LIMITS.bodyDepth)) {
    throw new InvalidError("request body nests too deeply", [
      { field: "body", message: `must nest at most ${LIMITS.bodyDepth} levels of arrays and objects` },
    ]);
  }
  return value;
}
