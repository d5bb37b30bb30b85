import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../client";

/**
 * Bot sessions (docs/metrics.md, session attributes): a session in which any event carried a known
 * bot's user agent counts nowhere, not even its events without a user agent or with a human one.
 * The deriver records each such session in `agg_bot_sessions` as it derives the bot's event; every
 * read of raw events that counts them leaves those sessions out with `countedEvent`.
 *
 * Not yet exact: events of a session derived before its first bot event was stay in the rollups
 * (a rebuild, rebuildRollups in db/src/rollups/run.ts, takes them out). The session facts of docs/aggregation.md
 * (step 2) end this.
 */

/** An event that counts: not a bot's, and not in a bot session. `alias` names the events' table. */
export function countedEvent(alias: string): SQL {
  const e = sql.raw(alias);
  return sql`not ${e}.is_bot and not exists (select 1 from agg_bot_sessions b
    where b.account_id = ${e}.account_id and b.session_id = ${e}.session_id)`;
}

/**
 * In the deriver's transaction, on the staged rows (`staged`, a table of the events table's shape):
 * records the sessions of the staged bot events, then flags every staged event of a bot session as
 * a bot's, so that the rollups, which count only `not is_bot`, leave it out. The stored event keeps
 * its own flag.
 */
export async function setAsideBotSessions(tx: Database, staged: string): Promise<void> {
  const rows = sql.raw(staged);
  await tx.execute(
    sql`insert into agg_bot_sessions as b (account_id, session_id, seen_at)
      select account_id, session_id, min(created_at) from ${rows} where is_bot
      group by 1, 2 order by 1, 2
      on conflict (account_id, session_id) do update set seen_at = excluded.seen_at
        where excluded.seen_at < b.seen_at`,
  );
  await tx.execute(
    sql`update ${rows} s set is_bot = true
      where not s.is_bot and exists (select 1 from agg_bot_sessions b
        where b.account_id = s.account_id and b.session_id = s.session_id)`,
  );
}
