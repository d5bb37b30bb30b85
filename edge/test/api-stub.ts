import { env } from "cloudflare:test";
import type { AcceptedEvent, RejectedEvent } from "@funnel/events";
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyBatchSignature } from "@funnel/events/signing";
import { vi } from "vitest";

export interface ReceivedBatch {
  events: AcceptedEvent[];
  rejected: RejectedEvent[];
  signature: Awaited<ReturnType<typeof verifyBatchSignature>>;
  timestamp: string | null;
}

/**
 * Stands in for the API's /internal/ingest: answers the worker's outbound fetches to API_URL,
 * checks each batch's signature as the API does and records it. `down()` makes it refuse
 * connections, `status(n)` answer n, until `up()`.
 */
export function stubApi() {
  const batches: ReceivedBatch[] = [];
  let failure: "refuse" | number | null = null;
  let attempts = 0;
  const original = globalThis.fetch;
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).origin !== new URL(env.API_URL).origin) return original(input, init);
    attempts += 1;
    if (failure === "refuse") throw new TypeError("Network connection lost.");
    if (typeof failure === "number")
      return Response.json({ error: { code: "UNAVAILABLE" } }, { status: failure });
    const rawBody = await request.text();
    const signature = await verifyBatchSignature({
      secret: env.EDGE_SIGNING_SECRET,
      timestamp: request.headers.get(TIMESTAMP_HEADER),
      signature: request.headers.get(SIGNATURE_HEADER),
      rawBody,
    });
    const body = JSON.parse(rawBody) as { events: AcceptedEvent[]; rejected?: RejectedEvent[] };
    batches.push({
      events: body.events,
      rejected: body.rejected ?? [],
      signature,
      timestamp: request.headers.get(TIMESTAMP_HEADER),
    });
    return Response.json({ accepted: body.events.length, rejected: [] }, { status: 202 });
  });
  return {
    batches,
    attempts: () => attempts,
    events: () => batches.flatMap((b) => b.events),
    down: () => {
      failure = "refuse";
    },
    status: (code: number) => {
      failure = code;
    },
    up: () => {
      failure = null;
    },
    restore: () => spy.mockRestore(),
  };
}

export async function waitFor<T>(read: () => T, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}
