import { and, asc, eq } from "drizzle-orm";
import type { Database } from "../client";
import { analyticsEvents } from "../schema";

/**
 * A visitor's counted events (bots left out), oldest first, read from the raw events by the
 * visitor id index, for the visitor journey (REQ-FUN-004-13). Scoped to the account: another
 * account's visitor with the same id is never read.
 */

export interface JourneyEvent {
  eventId: string;
  funnelId: string;
  sessionId: string;
  eventType: string;
  pageId: string | null;
  stepId: string | null;
  url: string | null;
  metadata: unknown;
  createdAt: Date;
}

export async function visitorEvents(
  db: Database,
  accountId: string,
  visitorId: string,
  filter: { funnelId?: string | undefined } = {},
): Promise<JourneyEvent[]> {
  const e = analyticsEvents;
  return db
    .select({
      eventId: e.eventId,
      funnelId: e.funnelId,
      sessionId: e.sessionId,
      eventType: e.eventType,
      pageId: e.pageId,
      stepId: e.funnelStepId,
      url: e.url,
      metadata: e.metadata,
      createdAt: e.createdAt,
    })
    .from(e)
    .where(
      and(
        eq(e.visitorId, visitorId.toLowerCase()),
        eq(e.accountId, accountId),
        eq(e.isBot, false),
        filter.funnelId === undefined ? undefined : eq(e.funnelId, filter.funnelId.toLowerCase()),
      ),
    )
    .orderBy(asc(e.createdAt), asc(e.eventId));
}
