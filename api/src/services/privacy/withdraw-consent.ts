import { withdrawConsent as anonymiseVisitor } from "@funnel/db/queries/privacy";
import type { AccountScope, Deps } from "../../deps";
import { retireCachedReports } from "../analytics/reports/context";
import { anonymiseVisitorInExports } from "../exports/anonymise-visitor";

/**
 * Consent withdrawal (CONTRACT.md "Privacy", METRICS.md "Visitor journey"): every stored trace of
 * the visitor in the key's account loses its personal fields and its link to the visitor, while
 * every report keeps its figures (db/src/queries/privacy.ts says exactly what changes). Then:
 * - the real-time store renames the visitor and its sessions, inside the database transaction, so a
 *   failure there leaves nothing half done and the call can be repeated;
 * - the account's cached reports and real-time answers are dropped (they may quote the old ids);
 * - the hooks of `consentWithdrawnHooks` run (exports not yet expired), after the commit: a failing
 *   hook fails the request, and repeating it runs the hooks again (they must be idempotent).
 * Events of the visitor still queued, or sent later, are anonymised by the ingest writer.
 */

export type WithdrawConsentContext = Pick<Deps, "database" | "cache" | "realtime" | "logger" | "exports">;

export interface ConsentWithdrawnEvent {
  accountId: string;
  /** The withdrawn visitor id (lower case): what to look for. */
  visitorId: string;
  /** The random id that replaced it in the database, for copies that keep counting visitors. */
  anonymousVisitorId: string;
  /** Session ids replaced in the database: old → new. */
  sessions: Map<string, string>;
}

/**
 * What else holds copies of a visitor's data and must anonymise them the same way. Runs after the
 * database committed, with the app's dependencies; must be idempotent (a repeated withdrawal calls
 * it again, then with an empty `sessions` and another anonymous id).
 */
export type ConsentWithdrawnHook = (
  ctx: WithdrawConsentContext,
  event: ConsentWithdrawnEvent,
) => Promise<void>;

/** Exports not yet expired that list the visitor: re-rendered without its id (api/src/exports/). */
const anonymiseExports: ConsentWithdrawnHook = async (ctx, event) => {
  await anonymiseVisitorInExports(ctx, event.accountId, event.visitorId);
};

export const consentWithdrawnHooks: ConsentWithdrawnHook[] = [anonymiseExports];

export interface ConsentWithdrawnView {
  visitor_id: string;
  status: "anonymised";
  /** Stored events of the visitor anonymised by this call (0 when a previous call had done it). */
  events: number;
  /** When consent was first withdrawn for this visitor. */
  withdrawn_at: string;
}

export async function withdrawConsent(
  ctx: WithdrawConsentContext,
  scope: Pick<AccountScope, "accountId">,
  input: { visitorId: string; hooks?: ConsentWithdrawnHook[] },
): Promise<ConsentWithdrawnView> {
  const visitorId = input.visitorId.toLowerCase();
  const withdrawal = await anonymiseVisitor(ctx.database.db, scope.accountId, visitorId, {
    beforeCommit: (w) =>
      ctx.realtime.renameVisitor(scope.accountId, w.funnelIds, {
        from: visitorId,
        to: w.anonymousVisitorId,
        sessions: w.sessions,
      }),
  });
  // After the commit: a report computed meanwhile from the old rows must not be served again.
  await Promise.all([
    retireCachedReports(ctx, scope.accountId),
    ctx.cache.deleteByPrefix(`realtime:${scope.accountId}:`),
  ]);
  for (const hook of input.hooks ?? consentWithdrawnHooks) {
    await hook(ctx, {
      accountId: scope.accountId,
      visitorId,
      anonymousVisitorId: withdrawal.anonymousVisitorId,
      sessions: withdrawal.sessions,
    });
  }
  ctx.logger.info(
    { account_id: scope.accountId, events: withdrawal.events, rejected_events: withdrawal.rejectedEvents },
    "consent withdrawn: visitor anonymised",
  );
  return {
    visitor_id: visitorId,
    status: "anonymised",
    events: withdrawal.events,
    withdrawn_at: withdrawal.withdrawnAt.toISOString(),
  };
}
