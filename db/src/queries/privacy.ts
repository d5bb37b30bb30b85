import { createHash, randomUUID } from "node:crypto";
import { type SQL, sql } from "drizzle-orm";
import { type Database, queryRows } from "../client";
import { EVENT_ROLLUPS } from "../rollups/registry";
import { UNIT } from "./day-links";
import { chunks } from "./unnest";

/**
 * Consent withdrawal (CONTRACT.md "Privacy", METRICS.md "Visitor journey"): a visitor's events keep
 * their place in every count but lose every personal field and every link to the visitor.
 *
 * - Events: IP, user agent and referrer set to null, metadata to `{}`, the URL cut to scheme, host
 *   and path; `visitor_id` replaced by one fresh random id per withdrawal (so distinct visitors
 *   stay as they were), and each session id the visitor alone used by a fresh random id too (a
 *   session id can be a customer's own identifier). Device type, browser, OS and country (coarse,
 *   derived at ingest), UTM fields, steps, values and event ids stay: reports count them.
 * - Rollups: the same replacements, so every report gives the same figures as before.
 * - Refused events (`rejected_events`) whose payload names the visitor: the same fields cleared,
 *   and every field a stored event would not keep dropped (a refused payload is kept as sent).
 * - `consent_withdrawals` keeps the account and a SHA-256 of the visitor id, so that the ingest
 *   writer anonymises, the same way, events of the visitor that arrive later (still queued at the
 *   withdrawal, or sent again). Nothing stored leads from the visitor id to the anonymised rows.
 *
 * A withdrawal and the writer take an advisory lock on the account (exclusive and shared), so a
 * batch in flight is either anonymised by the withdrawal or sees it.
 */

/** First key of the account locks: apart from the rollups' session locks and other advisory locks. */
const ACCOUNT_LOCK_NAMESPACE = 0x46554e50;

/** How a withdrawn visitor is recorded: hex SHA-256 of the lower-cased visitor id. */
export function visitorHash(visitorId: string): string {
  return createHash("sha256").update(visitorId.toLowerCase()).digest("hex");
}

// The same patterns in SQL (regexp_replace) and in JS, so stored and later events are cut alike.
const USERINFO = "^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@";
const QUERY_AND_FRAGMENT = "[?#].*$";

/** A URL without its query string, fragment and user info: scheme, host and path remain. */
export function anonymisedUrl(url: string | null | undefined): string | null {
  if (url === null || url === undefined) return null;
  return url.replace(new RegExp(USERINFO), "$1").replace(new RegExp(QUERY_AND_FRAGMENT, "s"), "");
}

/** anonymisedUrl in SQL, for a column or expression. */
export function anonymisedUrlSql(column: SQL): SQL {
  return sql`regexp_replace(regexp_replace(${column}, ${USERINFO}, '\\1'), ${QUERY_AND_FRAGMENT}, '')`;
}

/** The personal fields an event row carries, as the writer builds it (schema/events.ts). */
export interface PersonalFields {
  visitorId: string;
  sessionId: string;
  url?: string | null | undefined;
  userAgent?: string | null | undefined;
  ipAddress?: string | null | undefined;
  referrer?: string | null | undefined;
  metadata?: unknown;
}

/** `row` anonymised: the visitor and session replaced, the personal fields cleared. */
export function anonymisedEvent<T extends PersonalFields>(
  row: T,
  visitorId: string,
  sessionFor: (sessionId: string) => string,
): T {
  return {
    ...row,
    visitorId,
    sessionId: sessionFor(row.sessionId),
    url: anonymisedUrl(row.url),
    userAgent: null,
    ipAddress: null,
    referrer: null,
    metadata: {},
  };
}

/**
 * What a refused payload keeps once anonymised: the event fields a stored event keeps too. A refused
 * payload is stored as sent, so it may carry any field at all (a client's `email`, `customer`, …):
 * every other field goes, and so does a kept field that is not a plain value.
 */
const PAYLOAD_FIELDS_KEPT = new Set([
  "event_id",
  "event_type",
  "funnel_id",
  "page_id",
  "variant_id",
  "funnel_step_id",
  "previous_step_id",
  "next_step_id",
  "exit_outcome",
  "conversion_type",
  "value_cents",
  "conversion_goal_id",
  "order_id",
  "utm_source",
  "utm_medium",
  "utm_campaign",
  "timestamp",
  "occurred_at",
  "received_at",
]);

/**
 * A refused event's payload, anonymised like an event: the visitor and session replaced, IP, user
 * agent and referrer null, metadata `{}`, the URL cut (fields the payload lacks stay absent), and
 * any field an event would not keep dropped.
 */
export function anonymisedPayload(
  payload: unknown,
  visitorId: string,
  sessionFor: (sessionId: string) => string,
): unknown {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return payload;
  const sent = payload as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(sent)) {
    if (PAYLOAD_FIELDS_KEPT.has(field) && (value === null || typeof value !== "object")) out[field] = value;
  }
  out.visitor_id = visitorId;
  for (const field of ["ip_address", "user_agent", "referrer"]) if (field in sent) out[field] = null;
  if ("metadata" in sent) out.metadata = {};
  if ("url" in sent) out.url = typeof sent.url === "string" ? anonymisedUrl(sent.url) : null;
  if ("session_id" in sent)
    out.session_id = typeof sent.session_id === "string" ? sessionFor(sent.session_id) : null;
  return out;
}

/** The visitor id a refused payload names, lower-cased, when it names one. */
export function payloadVisitorId(payload: unknown): string | null {
  if (payload === null || typeof payload !== "object" || !("visitor_id" in payload)) return null;
  const id = (payload as { visitor_id: unknown }).visitor_id;
  return typeof id === "string" ? id.toLowerCase() : null;
}

// ---------------------------------------------------------------------------------------------
// The ingest writer's side.

/** Held by the writer, shared, for each account of its batch, until its transaction ends. */
export async function lockAccountsShared(tx: Database, accountIds: string[]): Promise<void> {
  if (accountIds.length === 0) return;
  const sorted = [...new Set(accountIds)].sort();
  await tx.execute(
    sql`select pg_advisory_xact_lock_shared(${ACCOUNT_LOCK_NAMESPACE}::int4, hashtext(a))
      from (select a from unnest(${sql.param(sorted)}::text[]) as a order by a) as ordered`,
  );
}

/** Of the given (account, visitor) pairs, those whose consent was withdrawn, as `account/visitor`. */
export async function withdrawnVisitors(
  tx: Database,
  visitors: { accountId: string; visitorId: string }[],
): Promise<Set<string>> {
  const found = new Set<string>();
  if (visitors.length === 0) return found;
  const byHash = new Map<string, string>();
  for (const v of visitors)
    byHash.set(`${v.accountId}/${visitorHash(v.visitorId)}`, `${v.accountId}/${v.visitorId}`);
  for (const keys of chunks([...byHash.keys()], 5_000)) {
    const rows = await queryRows<{ account_id: string; visitor_hash: string }>(
      tx,
      sql`select w.account_id, w.visitor_hash from consent_withdrawals w
        join unnest(${sql.param(keys.map((k) => k.split("/")[0] ?? ""))}::text[]::uuid[],
          ${sql.param(keys.map((k) => k.split("/")[1] ?? ""))}::text[]) as k(account_id, visitor_hash)
          on w.account_id = k.account_id and w.visitor_hash = k.visitor_hash`,
    );
    for (const row of rows) {
      const key = byHash.get(`${row.account_id}/${row.visitor_hash}`);
      if (key) found.add(key);
    }
  }
  return found;
}

/**
 * The writer's batch with the events (and refused payloads) of withdrawn visitors anonymised: one
 * fresh visitor id per withdrawn visitor and one fresh session id per session in this batch. Takes
 * the accounts' shared locks first, so call it before anything else in the batch's transaction.
 */
export async function anonymiseWithdrawn<
  E extends PersonalFields & { accountId: string },
  R extends { accountId?: string | null | undefined; payload: unknown },
>(tx: Database, events: E[], rejected: R[]): Promise<{ events: E[]; rejected: R[] }> {
  const visitors = new Map<string, { accountId: string; visitorId: string }>();
  const note = (accountId: string, visitorId: string) =>
    visitors.set(`${accountId}/${visitorId}`, { accountId, visitorId });
  for (const e of events) note(e.accountId, e.visitorId.toLowerCase());
  for (const r of rejected) {
    const visitorId = payloadVisitorId(r.payload);
    if (r.accountId && visitorId) note(r.accountId, visitorId);
  }
  if (visitors.size === 0) return { events, rejected };
  await lockAccountsShared(
    tx,
    [...visitors.values()].map((v) => v.accountId),
  );
  const withdrawn = await withdrawnVisitors(tx, [...visitors.values()]);
  if (withdrawn.size === 0) return { events, rejected };

  const anonymousIds = new Map<string, string>();
  const sessionIds = new Map<string, string>();
  const fresh = (map: Map<string, string>, key: string) => {
    let id = map.get(key);
    if (id === undefined) {
      id = randomUUID();
      map.set(key, id);
    }
    return id;
  };
  const anonymise = <T>(
    accountId: string,
    visitorId: string,
    row: T,
    apply: (visitor: string, sessionFor: (s: string) => string) => T,
  ) => {
    const key = `${accountId}/${visitorId}`;
    if (!withdrawn.has(key)) return row;
    return apply(fresh(anonymousIds, key), (sessionId) => fresh(sessionIds, `${accountId}/${sessionId}`));
  };
  return {
    events: events.map((e) =>
      anonymise(e.accountId, e.visitorId.toLowerCase(), e, (visitor, sessionFor) =>
        anonymisedEvent(e, visitor, sessionFor),
      ),
    ),
    rejected: rejected.map((r) => {
      const visitorId = payloadVisitorId(r.payload);
      if (!r.accountId || !visitorId) return r;
      return anonymise(r.accountId, visitorId, r, (visitor, sessionFor) => ({
        ...r,
        payload: anonymisedPayload(r.payload, visitor, sessionFor),
      }));
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// The withdrawal.

export interface ConsentWithdrawal {
  /** When consent was first withdrawn for this visitor. */
  withdrawnAt: Date;
  /** The random id that replaced the visitor id (in events and rollups alike). */
  anonymousVisitorId: string;
  /** Events anonymised (bots included). */
  events: number;
  /** Refused events whose payload was anonymised. */
  rejectedEvents: number;
  /** Funnels the visitor had events in: where the real-time store must rename it too. */
  funnelIds: string[];
  /** Session ids replaced: old → new. Sessions shared with another visitor keep their id. */
  sessions: Map<string, string>;
}

interface VisitorEvent {
  event_id: string;
  funnel_id: string;
  session_id: string;
  event_type: string;
  funnel_step_id: string | null;
  created_at: Date | string;
  is_bot: boolean;
}

/**
 * Anonymises every stored trace of `visitorId` in `accountId`, in one transaction, and records the
 * withdrawal. Idempotent: a second call finds nothing left to anonymise and returns 0 events.
 */
export async function withdrawConsent(
  db: Database,
  accountId: string,
  visitorId: string,
  options: {
    now?: Date;
    /** Runs inside the transaction, after the rows changed: a failure rolls the withdrawal back. */
    beforeCommit?: (withdrawal: ConsentWithdrawal) => Promise<void>;
  } = {},
): Promise<ConsentWithdrawal> {
  const visitor = visitorId.toLowerCase();
  const anonymous = randomUUID();
  return db.transaction(async (txDb) => {
    const tx = txDb as unknown as Database;
    // Waits for batches of the account in flight; batches after it see the withdrawal.
    await tx.execute(
      sql`select pg_advisory_xact_lock(${ACCOUNT_LOCK_NAMESPACE}::int4, hashtext(${accountId}))`,
    );
    // A repeated withdrawal keeps the first one's time.
    const [recorded] = await queryRows<{ withdrawn_at: Date | string }>(
      tx,
      sql`insert into consent_withdrawals (account_id, visitor_hash, withdrawn_at)
        values (${accountId}::uuid, ${visitorHash(visitor)}, ${(options.now ?? new Date()).toISOString()}::timestamptz)
        on conflict (account_id, visitor_hash) do update set withdrawn_at = consent_withdrawals.withdrawn_at
        returning withdrawn_at`,
    );

    const events = await queryRows<VisitorEvent>(
      tx,
      sql`select event_id, funnel_id, session_id, event_type, funnel_step_id, created_at, is_bot
        from analytics_events where account_id = ${accountId}::uuid and visitor_id = ${visitor}::uuid`,
    );
    const sessions = await sessionMap(tx, accountId, visitor, events);
    await anonymiseRollups(tx, accountId, visitor, anonymous, sessions, events);
    const sessionPairs = sql`unnest(${sql.param([...sessions.keys()])}::text[], ${sql.param([
      ...sessions.values(),
    ])}::text[]) as m(old_id, new_id)`;
    // The stored events, and those of them whose rollups are not derived yet (the deriver then
    // derives them under the new ids).
    for (const table of ["analytics_events", "rollup_backlog"]) {
      await tx.execute(
        sql`update ${sql.identifier(table)} e set
            visitor_id = ${anonymous}::uuid,
            session_id = coalesce((select m.new_id from ${sessionPairs} where m.old_id = e.session_id), e.session_id),
            url = ${anonymisedUrlSql(sql`e.url`)},
            user_agent = null, ip_address = null, referrer = null, metadata = '{}'::jsonb
          where e.account_id = ${accountId}::uuid and e.visitor_id = ${visitor}::uuid`,
      );
    }
    // A bot session renamed stays a bot session.
    await tx.execute(
      sql`update agg_bot_sessions b set session_id = m.new_id from ${sessionPairs}
        where b.account_id = ${accountId}::uuid and b.session_id = m.old_id`,
    );
    const rejected = await anonymiseRejected(tx, accountId, visitor, anonymous, sessions);
    const withdrawal: ConsentWithdrawal = {
      withdrawnAt: new Date(recorded?.withdrawn_at ?? options.now ?? new Date()),
      anonymousVisitorId: anonymous,
      events: events.length,
      rejectedEvents: rejected,
      funnelIds: [...new Set(events.map((e) => e.funnel_id))].sort(),
      sessions,
    };
    await options.beforeCommit?.(withdrawal);
    return withdrawal;
  });
}

/** A fresh id for each session of the visitor that no other visitor of the account shares. */
async function sessionMap(
  tx: Database,
  accountId: string,
  visitor: string,
  events: VisitorEvent[],
): Promise<Map<string, string>> {
  const ids = [...new Set(events.map((e) => e.session_id))].sort();
  const shared = new Set<string>();
  for (const chunk of chunks(ids)) {
    const rows = await queryRows<{ session_id: string }>(
      tx,
      sql`select distinct session_id from analytics_events
        where account_id = ${accountId}::uuid and session_id = any(${sql.param(chunk)}::text[])
          and visitor_id <> ${visitor}::uuid`,
    );
    for (const row of rows) shared.add(row.session_id);
  }
  // Renaming a shared session would split it, and change session counts and step visits.
  return new Map(ids.filter((id) => !shared.has(id)).map((id) => [id, randomUUID()]));
}

/**
 * Rollups that hold a visitor id: the registry's whose key has one (db/src/rollups/registry.ts),
 * and the others of schema/aggregates.ts. Time-bucketed ones are found by funnel (and step) and the
 * span of the visitor's events there, which their primary keys lead with; those with a row per
 * visitor by funnel; the others by (funnel, session), which leads their primary key or an index. So
 * each update follows an index instead of scanning the table. A table not (or no longer) in the
 * database is skipped; a test checks that no table holding a visitor id keeps it after a withdrawal.
 */
const VISITOR_KEYED = EVENT_ROLLUPS.filter((r) => r.key.includes("visitor_id"));
const BUCKETED_VISITOR_ROLLUPS = VISITOR_KEYED.filter((r) => r.key.includes("bucket")).map((r) => ({
  table: r.table,
  byStep: r.key.includes("step_id"),
}));
const VISITOR_ROLLUPS = [
  ...VISITOR_KEYED.filter((r) => !r.key.includes("bucket")).map((r) => r.table),
  "agg_step_converted",
];
const SESSION_VISITOR_ROLLUPS = [
  "agg_sessions",
  "agg_step_events",
  "agg_step_visits",
  "agg_conversions",
  "agg_converting_sessions",
] as const;

/** Buckets are at most a UTC day wide: a row's bucket starts at most this long before its events. */
const WIDEST_BUCKET_MS = 86_400_000;

async function anonymiseRollups(
  tx: Database,
  accountId: string,
  visitor: string,
  anonymous: string,
  sessions: Map<string, string>,
  events: VisitorEvent[],
): Promise<void> {
  const counted = events.filter((e) => !e.is_bot);
  if (counted.length === 0) return;
  const present = new Set(
    (
      await queryRows<{ name: string }>(
        tx,
        sql`select t as name from unnest(${sql.param([
          ...BUCKETED_VISITOR_ROLLUPS.map((r) => r.table),
          ...SESSION_VISITOR_ROLLUPS,
          ...VISITOR_ROLLUPS,
          "agg_active_days",
        ])}::text[]) as t where to_regclass(t) is not null`,
      )
    ).map((r) => r.name),
  );
  const text = (values: string[]) => sql`${sql.param(values)}::text[]`;
  const renamed = sql`coalesce((select m.new_id from unnest(${text([...sessions.keys()])}, ${text([
    ...sessions.values(),
  ])}) as m(old_id, new_id) where m.old_id = a.session_id), a.session_id)`;
  const mine = sql`a.account_id = ${accountId}::uuid and a.visitor_id = ${visitor}::uuid`;
  const set = sql`visitor_id = ${anonymous}::uuid, session_id = ${renamed}`;

  // Span of the visitor's events per funnel, and per funnel and step of its entries.
  const spans = new Map<string, { funnelId: string; stepId: string; from: number; to: number }>();
  const widen = (funnelId: string, stepId: string, at: number) => {
    const key = `${funnelId}|${stepId}`;
    const span = spans.get(key);
    if (!span) spans.set(key, { funnelId, stepId, from: at, to: at });
    else {
      span.from = Math.min(span.from, at);
      span.to = Math.max(span.to, at);
    }
  };
  for (const e of counted) {
    const at = new Date(e.created_at).getTime();
    widen(e.funnel_id, "", at);
    if (e.event_type === "step_entry" && e.funnel_step_id) widen(e.funnel_id, e.funnel_step_id, at);
  }
  const iso = (ms: number) => new Date(ms).toISOString();
  for (const { table, byStep } of BUCKETED_VISITOR_ROLLUPS) {
    if (!present.has(table)) continue;
    const rows = [...spans.values()].filter((s) => (s.stepId !== "") === byStep);
    for (const chunk of chunks(rows)) {
      const step = byStep ? sql`and a.step_id = k.step_id::uuid` : sql``;
      await tx.execute(
        sql`update ${sql.identifier(table)} a set ${set}
          from unnest(${text(chunk.map((s) => s.funnelId))}, ${text(chunk.map((s) => s.stepId))},
            ${text(chunk.map((s) => iso(s.from - WIDEST_BUCKET_MS)))}, ${text(chunk.map((s) => iso(s.to)))})
            as k(funnel_id, step_id, from_at, to_at)
          where a.funnel_id = k.funnel_id::uuid ${step}
            and a.bucket > k.from_at::timestamptz and a.bucket <= k.to_at::timestamptz and ${mine}`,
      );
    }
  }
  const funnelIds = [...new Set(counted.map((e) => e.funnel_id))];
  for (const table of VISITOR_ROLLUPS) {
    if (!present.has(table)) continue;
    await tx.execute(
      sql`update ${sql.identifier(table)} a set visitor_id = ${anonymous}::uuid
        where a.funnel_id = any(${text(funnelIds)}::uuid[]) and ${mine}`,
    );
  }
  if (present.has("agg_active_days")) {
    // Days seen name their unit by id: the visitor's (as text), or a session's.
    const inFunnels = sql`a.funnel_id = any(${text(funnelIds)}::uuid[]) and a.account_id = ${accountId}::uuid`;
    await tx.execute(
      sql`update agg_active_days a set unit = ${anonymous}
        where ${inFunnels} and a.unit = ${visitor.toLowerCase()} and a.kind <> ${UNIT.session}`,
    );
    if (sessions.size > 0) {
      await tx.execute(
        sql`update agg_active_days a set unit = m.new_id
          from unnest(${text([...sessions.keys()])}, ${text([...sessions.values()])}) as m(old_id, new_id)
          where ${inFunnels} and a.unit = m.old_id and a.kind = ${UNIT.session}`,
      );
    }
  }
  const keys = [...new Map(counted.map((e) => [`${e.funnel_id}|${e.session_id}`, e])).values()];
  for (const table of SESSION_VISITOR_ROLLUPS) {
    if (!present.has(table)) continue;
    for (const chunk of chunks(keys)) {
      await tx.execute(
        sql`update ${sql.identifier(table)} a set ${set}
          from unnest(${text(chunk.map((e) => e.funnel_id))}, ${text(chunk.map((e) => e.session_id))})
            as k(funnel_id, session_id)
          where a.funnel_id = k.funnel_id::uuid and a.session_id = k.session_id and ${mine}`,
      );
    }
  }
}

/** Refused events of the account (or of none) whose payload names the visitor. */
async function anonymiseRejected(
  tx: Database,
  accountId: string,
  visitor: string,
  anonymous: string,
  sessions: Map<string, string>,
): Promise<number> {
  const rows = await queryRows<{ id: number | string; payload: unknown }>(
    tx,
    sql`select id, payload from rejected_events
      where (account_id = ${accountId}::uuid or account_id is null)
        and lower(payload ->> 'visitor_id') = ${visitor}`,
  );
  const fresh = new Map(sessions);
  const sessionFor = (id: string) => {
    let next = fresh.get(id);
    if (next === undefined) {
      next = randomUUID();
      fresh.set(id, next);
    }
    return next;
  };
  for (const row of rows) {
    const payload = typeof row.payload === "string" ? (JSON.parse(row.payload) as unknown) : row.payload;
    await tx.execute(
      sql`update rejected_events set payload = ${JSON.stringify(anonymisedPayload(payload, anonymous, sessionFor))}::jsonb
        where id = ${row.id} and (account_id = ${accountId}::uuid or account_id is null)`,
    );
  }
  return rows.length;
}
