import { isIP } from "node:net";
import type { AcceptedEvent, FieldError } from "@funnel/events";
import { enrichUserAgent, truncateIp } from "@funnel/events/enrich";
import { eq, inArray, sql } from "drizzle-orm";
import { type Database, postgresTransaction, queryRows } from "../client";
import { ensurePartitions } from "../partitions";
import { accounts, type analyticsEvents, funnels, rejectedEvents } from "../schema";
import { copyColumns } from "./copy";
import { addToBacklog } from "./derive";
import { anonymiseWithdrawn } from "./privacy";
import { STAGED, stageTable } from "./rollups";
import { chunks, ROWS_PER_STATEMENT, type UnnestColumn, unnestInsert } from "./unnest";

/**
 * The ingest worker's write: one batch of accepted (and refused) events into the event store, in
 * one transaction, idempotently — the same batch written twice, or an event id seen before,
 * changes nothing. The new events also join the rollup backlog in that transaction; their rollups
 * are derived later, off this path (derive.ts).
 */

export interface EventBatch {
  source: "track" | "import" | "edge";
  /** Set for imports: events may only land in this account's funnels. */
  accountId: string | null;
  accepted: AcceptedEvent[];
  rejected: { index: number; errors: FieldError[]; raw: unknown }[];
}

export interface WriteBatchOptions {
  /**
   * Stable id of the batch, the same on every retry (the queue's job id, a UUID). Rejected events
   * have no identity of their own; (batch id, item key) stores each of them once.
   */
  batchId: string;
  /** Time the batch was queued; stamps its rejected events. Defaults to now. */
  receivedAt?: Date;
  /** How long a funnel's account is remembered; 0 reads the catalog every time. */
  catalogTtlMs?: number;
}

export interface WriteBatchResult {
  /** New events stored. */
  inserted: number;
  /** Accepted events whose id was already stored (client retries, job retries). */
  duplicates: number;
  /** Events of funnels the catalog does not know (or, for imports, of another account). */
  unknownFunnel: number;
  /** Rows written to rejected_events by this call (0 when a retry had stored them already). */
  rejectedStored: number;
  /** The `inserted` events themselves (bots included), for what is fed after the commit. */
  written: WrittenEvent[];
}

/** A stored event as the writer built its row. */
export type WrittenEvent = EventRow;

interface FunnelOwner {
  accountId: string;
  storeFullIp: boolean;
}

export async function writeBatch(
  db: Database,
  batch: EventBatch,
  options: WriteBatchOptions,
): Promise<WriteBatchResult> {
  return writeBatches(db, [{ batch, options }], options.catalogTtlMs);
}

/**
 * Several batches (the jobs a worker holds at once) in ONE transaction: one set of statements for
 * all of them, and no two transactions of one worker waiting on each other's aggregate rows. Each
 * batch keeps its own id (its refused events are stored once per batch) and its own account check.
 * The counts are summed over the batches.
 */
export async function writeBatches(
  db: Database,
  items: { batch: EventBatch; options: WriteBatchOptions }[],
  catalogTtlMs = 5_000,
): Promise<WriteBatchResult> {
  const ids = new Set<string>();
  for (const { batch } of items) for (const id of funnelIdsOf(batch)) ids.add(id);
  const owners = await resolveFunnels(db, [...ids], catalogTtlMs);
  const plan = mergePlans(items.map(({ batch, options }) => planBatch(batch, owners, options)));
  try {
    return await db.transaction((tx) => writePlan(tx as unknown as Database, plan));
  } catch (error) {
    // Natively partitioned storage (PostgreSQL without TimescaleDB, PGlite) needs a partition per
    // month; the scheduled job keeps them ready, this covers a batch that got ahead of it.
    if (!isMissingPartition(error) || plan.events.length === 0) throw error;
    await ensurePartitionsFor(db, plan.events);
    return await db.transaction((tx) => writePlan(tx as unknown as Database, plan));
  }
}

async function ensurePartitionsFor(db: Database, events: EventRow[]): Promise<void> {
  let first = events[0]?.createdAt ?? new Date();
  let last = first;
  for (const e of events) {
    if (e.createdAt < first) first = e.createdAt;
    if (e.createdAt > last) last = e.createdAt;
  }
  const month = (d: Date) => d.getUTCFullYear() * 12 + d.getUTCMonth();
  await ensurePartitions(db, { now: first, monthsBack: 0, monthsAhead: month(last) - month(first) });
}

function isMissingPartition(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (/no partition of relation/i.test(e.message)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Catalog: which account owns a funnel, remembered for a few seconds per database.

const ownerCache = new WeakMap<Database, Map<string, { owner: FunnelOwner; expiresAt: number }>>();

async function resolveFunnels(db: Database, ids: string[], ttlMs: number): Promise<Map<string, FunnelOwner>> {
  const now = Date.now();
  let cache = ownerCache.get(db);
  if (!cache) {
    cache = new Map();
    ownerCache.set(db, cache);
  }
  const found = new Map<string, FunnelOwner>();
  const missing: string[] = [];
  for (const id of ids) {
    const hit = cache.get(id);
    if (hit && hit.expiresAt > now) found.set(id, hit.owner);
    else missing.push(id);
  }
  if (missing.length === 0) return found;
  const rows = await db
    .select({ id: funnels.id, accountId: funnels.accountId, storeFullIp: accounts.storeFullIp })
    .from(funnels)
    .innerJoin(accounts, eq(accounts.id, funnels.accountId))
    .where(inArray(funnels.id, missing));
  for (const row of rows) {
    const owner = { accountId: row.accountId, storeFullIp: row.storeFullIp };
    found.set(row.id, owner);
    // Unknown funnels are not remembered: a funnel pushed a moment ago must count at once.
    if (ttlMs > 0) cache.set(row.id, { owner, expiresAt: now + ttlMs });
  }
  if (cache.size > 50_000) cache.clear();
  return found;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The funnel a refused item names, when it names one in UUID form. */
function rawFunnelId(raw: unknown): string | null {
  if (raw === null || typeof raw !== "object" || !("funnel_id" in raw)) return null;
  const id = (raw as { funnel_id: unknown }).funnel_id;
  return typeof id === "string" && UUID.test(id) ? id.toLowerCase() : null;
}

function funnelIdsOf(batch: EventBatch): string[] {
  const ids = new Set<string>();
  for (const event of batch.accepted) ids.add(event.funnel_id.toLowerCase());
  for (const item of batch.rejected) {
    const id = rawFunnelId(item.raw);
    if (id) ids.add(id);
  }
  return [...ids];
}

// ---------------------------------------------------------------------------------------------
// Plan: rows computed in memory before the transaction opens.

type EventRow = typeof analyticsEvents.$inferInsert & { createdAt: Date; accountId: string; eventId: string };
type RejectedRow = typeof rejectedEvents.$inferInsert;

interface Plan {
  /** Distinct by (account, event id), sorted by it so concurrent batches lock in one order. */
  events: EventRow[];
  rejected: RejectedRow[];
  unknownFunnel: number;
  /** Accepted events repeated inside the batch. */
  repeats: number;
}

/** One batch's rows, keyed by (account, event id). */
interface BatchPlan extends Omit<Plan, "events"> {
  events: Map<string, EventRow>;
}

function planBatch(
  batch: EventBatch,
  owners: Map<string, FunnelOwner>,
  options: WriteBatchOptions,
): BatchPlan {
  const receivedAt = options.receivedAt ?? new Date();
  const rejected: RejectedRow[] = batch.rejected.map((item) => {
    const funnelId = rawFunnelId(item.raw);
    return {
      batchId: options.batchId,
      itemKey: `invalid:${item.index}`,
      accountId: batch.accountId ?? (funnelId ? (owners.get(funnelId)?.accountId ?? null) : null),
      funnelId,
      reason: "invalid",
      errors: item.errors,
      payload: jsonValue(withTruncatedIp(item.raw)),
      source: batch.source,
      receivedAt,
    };
  });
  const events = new Map<string, EventRow>();
  let unknownFunnel = 0;
  let repeats = 0;
  for (const event of batch.accepted) {
    const owner = owners.get(event.funnel_id.toLowerCase());
    if (!owner || (batch.accountId !== null && owner.accountId !== batch.accountId)) {
      unknownFunnel++;
      rejected.push({
        batchId: options.batchId,
        itemKey: `event:${event.event_id.toLowerCase()}`,
        accountId: batch.accountId,
        funnelId: event.funnel_id,
        reason: "unknown_funnel",
        errors: [{ field: "funnel_id", message: "funnel is not in the catalog" }],
        // No account is known to have opted in to full IPs here: the privacy default applies.
        payload: withTruncatedIp(event),
        source: batch.source,
        receivedAt: new Date(event.received_at),
      });
      continue;
    }
    const key = `${owner.accountId}/${event.event_id.toLowerCase()}`;
    if (events.has(key)) {
      repeats++;
      continue;
    }
    events.set(key, toEventRow(event, owner));
  }
  return { events, rejected, unknownFunnel, repeats };
}

/** One plan of several: an event id in two batches is written once (the later copy is a repeat). */
function mergePlans(plans: BatchPlan[]): Plan {
  const events = new Map<string, EventRow>();
  let repeats = 0;
  for (const plan of plans) {
    repeats += plan.repeats;
    for (const [key, row] of plan.events) {
      if (events.has(key)) repeats++;
      else events.set(key, row);
    }
  }
  const sorted = [...events.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
  return {
    events: sorted,
    rejected: plans.flatMap((p) => p.rejected),
    unknownFunnel: plans.reduce((n, p) => n + p.unknownFunnel, 0),
    repeats,
  };
}

function toEventRow(event: AcceptedEvent, owner: FunnelOwner): EventRow {
  const enrichment = event.enrichment ?? enrichUserAgent(event.user_agent);
  const ip = event.ip_address !== null && isIP(event.ip_address) !== 0 ? event.ip_address : null;
  return {
    eventId: event.event_id.toLowerCase(),
    accountId: owner.accountId,
    // Lower case like Postgres prints UUIDs, so in-memory keys agree with the database's.
    funnelId: event.funnel_id.toLowerCase(),
    eventType: event.event_type,
    visitorId: event.visitor_id.toLowerCase(),
    sessionId: event.session_id,
    pageId: event.page_id,
    funnelStepId: event.funnel_step_id?.toLowerCase() ?? null,
    previousStepId: event.previous_step_id,
    conversionType: event.conversion_type,
    valueCents: event.value_cents,
    conversionGoalId: event.conversion_goal_id,
    orderId: event.order_id,
    variantId: event.variant_id,
    url: event.url,
    userAgent: event.user_agent,
    ipAddress: ip === null || owner.storeFullIp ? ip : truncateIp(ip),
    referrer: event.referrer,
    utmSource: event.utm_source,
    utmMedium: event.utm_medium,
    utmCampaign: event.utm_campaign,
    exitOutcome: event.exit_outcome,
    nextStepId: event.next_step_id,
    deviceType: enrichment.device_type,
    // Parsed from the user agent, not sent by the client: clipping them to the column loses nothing.
    browser: enrichment.browser?.slice(0, 64) ?? null,
    os: enrichment.os?.slice(0, 64) ?? null,
    country: enrichment.country?.slice(0, 2) ?? null,
    isBot: enrichment.is_bot,
    metadata: event.metadata,
    receivedAt: new Date(event.received_at),
    createdAt: new Date(event.occurred_at),
  };
}

/** A refused payload with its `ip_address`, when it is one, truncated like stored events'. */
function withTruncatedIp<T>(raw: T): T {
  if (raw === null || typeof raw !== "object" || !("ip_address" in raw)) return raw;
  const ip = (raw as { ip_address: unknown }).ip_address;
  if (typeof ip !== "string" || isIP(ip) === 0) return raw;
  return { ...raw, ip_address: truncateIp(ip) };
}

/** A jsonb value for any parsed JSON, including a bare null (the column itself is NOT NULL). */
function jsonValue(raw: unknown): unknown {
  return raw === null || raw === undefined ? sql`'null'::jsonb` : raw;
}

// ---------------------------------------------------------------------------------------------
// The transaction.

async function writePlan(tx: Database, plan: Plan): Promise<WriteBatchResult> {
  // Events of visitors whose consent was withdrawn are stored anonymised, never linked again.
  const batch = await anonymiseWithdrawn(tx, plan.events, plan.rejected);
  let rejectedStored = 0;
  for (const rows of chunks(batch.rejected)) {
    const stored = await tx
      .insert(rejectedEvents)
      .values(rows)
      .onConflictDoNothing({ target: [rejectedEvents.batchId, rejectedEvents.itemKey] })
      .returning({ id: rejectedEvents.id });
    rejectedStored += stored.length;
  }

  const fresh = await storeEvents(tx, batch.events);
  const events = batch.events.filter((e) => fresh.has(`${e.accountId}/${e.eventId}`));
  // No rollup work here: the new events wait in the backlog for the deriver (derive.ts).
  if (events.length > 0) await addToBacklog(tx);

  return {
    inserted: events.length,
    duplicates: plan.events.length - events.length + plan.repeats,
    unknownFunnel: plan.unknownFunnel,
    rejectedStored,
    written: events,
  };
}

/**
 * Fewer rows than this go in as an insert: a COPY ends with a second small message (CopyDone) sent
 * after its data, which the client's Nagle algorithm holds until the server acknowledges the data,
 * up to its 40 ms delayed ACK. Once per write of thousands of events that is nothing; paid by every
 * write of a few dozen events (steady /track traffic) it made the worker fall 8 s behind at 1,000
 * requests/s. (Disabling Nagle on the connections instead cost the large writes a quarter of their
 * throughput.)
 */
const COPY_FROM_ROWS = 1_000;

/**
 * Stages `rows` (distinct by account and event id), records their ids and stores those never
 * stored before; returns their keys (`account/event id`). Only those stay staged.
 *
 * The rows are copied into a temporary table of the events table's shape (STAGED, rollups.ts): the
 * new ones go on from there into the events table and the rollup backlog, so each event crosses
 * the wire once.
 *
 * Large writes on PostgreSQL stage their rows with one COPY (copy.ts): no statement to plan and no
 * arrays to bind or parse. Small ones, and all on PGlite, go in as one array per column through
 * `unnest`: 31 parameters a statement instead of 31 per row. Text-typed arrays are cast per element
 * (jsonb, inet, timestamptz) so both drivers bind them alike.
 */
async function storeEvents(tx: Database, rows: EventRow[]): Promise<Set<string>> {
  const fresh = new Set<string>();
  if (rows.length === 0) return fresh;
  await stageTable(tx);
  const column = <T>(pick: (e: EventRow) => T) => rows.map(pick);
  const iso = (d: Date | undefined) => (d ?? new Date()).toISOString();
  const columns: UnnestColumn[] = [
    ["event_id", "uuid", column((e) => e.eventId)],
    ["account_id", "uuid", column((e) => e.accountId)],
    ["funnel_id", "uuid", column((e) => e.funnelId)],
    ["event_type", "text", column((e) => e.eventType)],
    ["visitor_id", "uuid", column((e) => e.visitorId)],
    ["session_id", "text", column((e) => e.sessionId)],
    ["page_id", "uuid", column((e) => e.pageId ?? null)],
    ["funnel_step_id", "uuid", column((e) => e.funnelStepId ?? null)],
    ["previous_step_id", "uuid", column((e) => e.previousStepId ?? null)],
    ["conversion_type", "text", column((e) => e.conversionType ?? null)],
    ["value_cents", "int4", column((e) => (e.valueCents == null ? null : String(e.valueCents)))],
    ["conversion_goal_id", "uuid", column((e) => e.conversionGoalId ?? null)],
    ["order_id", "text", column((e) => e.orderId ?? null)],
    ["variant_id", "uuid", column((e) => e.variantId ?? null)],
    ["url", "text", column((e) => e.url ?? null)],
    ["user_agent", "text", column((e) => e.userAgent ?? null)],
    ["ip_address", "inet", column((e) => e.ipAddress ?? null)],
    ["referrer", "text", column((e) => e.referrer ?? null)],
    ["utm_source", "text", column((e) => e.utmSource ?? null)],
    ["utm_medium", "text", column((e) => e.utmMedium ?? null)],
    ["utm_campaign", "text", column((e) => e.utmCampaign ?? null)],
    ["exit_outcome", "text", column((e) => e.exitOutcome ?? null)],
    ["next_step_id", "uuid", column((e) => e.nextStepId ?? null)],
    ["device_type", "text", column((e) => e.deviceType ?? null)],
    ["browser", "text", column((e) => e.browser ?? null)],
    ["os", "text", column((e) => e.os ?? null)],
    ["country", "text", column((e) => e.country ?? null)],
    ["is_bot", "bool", column((e) => String(e.isBot ?? false))],
    ["metadata", "jsonb", column((e) => JSON.stringify(e.metadata ?? {}))],
    ["received_at", "timestamptz", column((e) => iso(e.receivedAt))],
    ["created_at", "timestamptz", column((e) => iso(e.createdAt))],
  ];
  const copyTx = rows.length >= COPY_FROM_ROWS ? postgresTransaction(tx) : null;
  if (copyTx) await copyColumns(copyTx, STAGED, columns);
  else {
    for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
      const piece = columns.map(
        ([name, type, values]) => [name, type, values.slice(start, start + ROWS_PER_STATEMENT)] as const,
      );
      await tx.execute(unnestInsert(STAGED, piece));
    }
  }
  // In key order, so that two writes holding one id lock it in the same order as the others.
  const inserted = await queryRows<{ account_id: string; event_id: string }>(
    tx,
    sql`insert into event_ids (account_id, event_id, created_at)
      select account_id, event_id, created_at from ${sql.raw(STAGED)} order by account_id, event_id
      on conflict do nothing returning account_id, event_id`,
  );
  for (const row of inserted) fresh.add(`${row.account_id}/${row.event_id}`);
  const seen = rows.filter((e) => !fresh.has(`${e.accountId}/${e.eventId}`));
  for (const chunk of chunks(seen)) {
    await tx.execute(
      sql`delete from ${sql.raw(STAGED)} s
        using unnest(${sql.param(chunk.map((e) => e.accountId))}::text[]::uuid[],
          ${sql.param(chunk.map((e) => e.eventId))}::text[]::uuid[]) as d(account_id, event_id)
        where s.account_id = d.account_id and s.event_id = d.event_id`,
    );
  }
  if (fresh.size === 0) return fresh;
  const names = sql.raw(columns.map(([name]) => `"${name}"`).join(", "));
  // In time order: the rows of one chunk (TimescaleDB) or partition go in one after another.
  await tx.execute(
    sql`insert into analytics_events (${names}) select ${names} from ${sql.raw(STAGED)} order by created_at`,
  );
  return fresh;
}
