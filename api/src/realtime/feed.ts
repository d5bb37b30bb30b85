import type { Logger } from "pino";
import type { RealtimeEvent, RealtimeStore } from "./store";

/** What the ingest writer reports for each event it stored. */
export interface StoredEventFields {
  eventId: string;
  accountId: string;
  funnelId: string;
  eventType: string;
  visitorId: string;
  sessionId: string;
  funnelStepId?: string | null | undefined;
  valueCents?: number | null | undefined;
  isBot?: boolean | undefined;
  createdAt: Date;
}

/**
 * Feeds the real-time store with the events a batch stored, after its transaction committed.
 * Bots are left out. Best effort: the events are safely stored, and a retried job would find them
 * stored already, so a failure here is logged and never fails the job.
 */
export async function feedRealtime(
  store: RealtimeStore | undefined,
  stored: StoredEventFields[],
  logger: Logger,
): Promise<void> {
  if (!store) return;
  const events: RealtimeEvent[] = stored
    .filter((e) => !e.isBot)
    .map((e) => ({
      eventId: e.eventId,
      accountId: e.accountId,
      funnelId: e.funnelId,
      eventType: e.eventType,
      visitorId: e.visitorId,
      sessionId: e.sessionId,
      stepId: e.funnelStepId ?? null,
      valueCents: e.valueCents ?? null,
      occurredAt: e.createdAt.getTime(),
    }));
  try {
    await store.record(events);
  } catch (error) {
    logger.warn({ err: error, events: events.length }, "real-time store not updated");
  }
}
