import { signatureHeaders } from "@funnel/events/signing";
import type { Config } from "../config";
import type { ForwardMessage } from "./messages";

/**
 * The queue consumer: every message of a delivered batch goes to the API in ONE signed POST to
 * /internal/ingest. Any failure (API down, 5xx, 429, network) retries the whole batch with
 * exponential backoff; Queues moves messages that used up `max_retries` to the dead-letter queue.
 * Retries never double-count: each event's `event_id` was fixed at accept time and the API stores
 * an event id once.
 */

export const INGEST_PATH = "/internal/ingest";
const MAX_DELAY_SECONDS = 300;

export type ForwardOutcome = { ok: true; events: number } | { ok: false; retryable: boolean; reason: string };

export async function forwardBatch(
  config: Pick<Config, "API_URL" | "EDGE_SIGNING_SECRET">,
  messages: readonly ForwardMessage[],
  fetcher: typeof fetch = fetch,
): Promise<ForwardOutcome> {
  const body = JSON.stringify({
    events: messages.flatMap((m) => m.events),
    rejected: messages.flatMap((m) => m.rejected),
  });
  const events = messages.reduce((n, m) => n + m.events.length, 0);
  let response: Response;
  try {
    response = await fetcher(new URL(INGEST_PATH, config.API_URL), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(await signatureHeaders(config.EDGE_SIGNING_SECRET, body)),
      },
      body,
    });
  } catch (error) {
    return { ok: false, retryable: true, reason: `network: ${String(error)}` };
  }
  // The body is not needed; reading it frees the connection.
  await response.arrayBuffer().catch(() => undefined);
  if (response.ok) return { ok: true, events };
  // 400: the API refused every event of the batch and kept them as rejected; resending cannot help.
  if (response.status === 400) return { ok: false, retryable: false, reason: "400" };
  return { ok: false, retryable: true, reason: String(response.status) };
}

/** Seconds before the next attempt: base, doubling per attempt, at most 5 minutes. */
export function retryDelaySeconds(baseSeconds: number, attempts: number): number {
  return Math.min(MAX_DELAY_SECONDS, baseSeconds * 2 ** Math.max(0, attempts - 1));
}

export async function consumeBatch(batch: MessageBatch<ForwardMessage>, config: Config): Promise<void> {
  const outcome = await forwardBatch(
    config,
    batch.messages.map((m) => m.body),
  );
  if (outcome.ok || !outcome.retryable) {
    if (!outcome.ok)
      console.error(JSON.stringify({ msg: "batch refused by the API", reason: outcome.reason }));
    batch.ackAll();
    return;
  }
  const attempts = Math.max(...batch.messages.map((m) => m.attempts));
  const delaySeconds = retryDelaySeconds(config.FORWARD_RETRY_BASE_SECONDS, attempts);
  console.warn(
    JSON.stringify({
      msg: "forward failed, retrying",
      reason: outcome.reason,
      messages: batch.messages.length,
      attempts,
      delay_s: delaySeconds,
    }),
  );
  batch.retryAll({ delaySeconds });
}
