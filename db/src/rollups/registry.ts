/**
 * The registry of rollups kept from counted events (docs/aggregation.md, "Rollups defined once"):
 * each is defined here once, by its table's key, the value of each key column taken from an event,
 * and its measures. The same definition keeps the rollup up batch by batch in the deriver, rebuilds
 * it from the stored events, and says how retention drops its rows (`run.ts` turns it into SQL);
 * the tests check every entry's incremental rows against its rebuild by iterating this list.
 *
 * Each is a function of the multiset of counted events alone (events outside bot sessions,
 * `db/src/queries/bot-sessions.ts`), so it can be summed batch by batch: a stored row takes a new
 * row with the same key by its measures' merge. The rollups that depend on a session's other
 * events (step visits, conversions' steps, day links) are not here yet; they follow as the design's
 * per-session derivation replaces them.
 */

import { NO_STEP } from "../schema/columns";

/** How a stored row takes the measure of a new row with the same key. */
export type Merge = "sum" | "least" | "greatest";

export interface Measure {
  /** An aggregate over the group's events `e`. */
  of: string;
  merge: Merge;
}

export type BucketWidth = "15 minutes" | "1 hour" | "1 day";

export interface EventRollup {
  table: string;
  /** The table's primary key, in order; every row also names its account (`account_id`). */
  key: readonly string[];
  /** The value of each key column from a counted event `e`; `funnel_id` is the event's. */
  keyOf: Readonly<Record<string, string>>;
  /** Aggregates of the group, each with how a stored row takes a new one; none: a set of keys. */
  measures: Readonly<Record<string, Measure>>;
  /** Which counted events it counts (SQL over `e`); all of them when absent. */
  where?: string;
  /** Retention drops a row once its bucket (of this width) is wholly older than the cutoff, or its time column is. */
  retention: { bucketWidth: BucketWidth } | { column: string };
  /**
   * Rows every batch adds to (this quarter hour's, this day's counts): written last in a batch, so
   * that concurrent derivers hold their locks only until the commit.
   */
  hot?: boolean;
}

/** The event's UTC bucket of this width: whole intervals since the Unix epoch. */
const bucketOf = (width: BucketWidth) =>
  `date_bin('${width}', e.created_at, timestamptz '1970-01-01 00:00:00+00')`;

const STEP_ENTRY = "e.event_type = 'step_entry' and e.funnel_step_id is not null";

/** Event counts and value per bucket, keyed by what reports group by. */
function eventCounts(table: string, width: BucketWidth): EventRollup {
  return {
    table,
    key: ["funnel_id", "bucket", "event_type", "step_id", "conversion_type", "exit_outcome"],
    keyOf: {
      bucket: bucketOf(width),
      event_type: "e.event_type",
      step_id: `coalesce(e.funnel_step_id, '${NO_STEP}'::uuid)`,
      conversion_type: "coalesce(e.conversion_type, '')",
      exit_outcome: "coalesce(e.exit_outcome, '')",
    },
    measures: {
      events: { of: "count(*)", merge: "sum" },
      value_cents: { of: "coalesce(sum(e.value_cents), 0)", merge: "sum" },
    },
    retention: { bucketWidth: width },
    hot: true,
  };
}

/** Which visitor had which session in which bucket: exact distinct visitors and sessions. */
function sessionBuckets(table: string, width: BucketWidth): EventRollup {
  return {
    table,
    key: ["funnel_id", "bucket", "visitor_id", "session_id"],
    keyOf: { bucket: bucketOf(width), visitor_id: "e.visitor_id", session_id: "e.session_id" },
    measures: {},
    retention: { bucketWidth: width },
  };
}

/** Which visitor entered which step in which session and bucket, and when first. */
function stepBuckets(table: string, width: BucketWidth): EventRollup {
  return {
    table,
    key: ["funnel_id", "step_id", "bucket", "visitor_id", "session_id"],
    keyOf: {
      step_id: "e.funnel_step_id",
      bucket: bucketOf(width),
      visitor_id: "e.visitor_id",
      session_id: "e.session_id",
    },
    measures: { first_entry_at: { of: "min(e.created_at)", merge: "least" } },
    where: STEP_ENTRY,
    retention: { bucketWidth: width },
  };
}

/** First and last time of the events `where` picks, per visitor (and per step when `byStep`). */
function span(
  table: string,
  [first, last]: [string, string],
  where: string | undefined,
  byStep = false,
): EventRollup {
  return {
    table,
    key: byStep ? ["funnel_id", "step_id", "visitor_id"] : ["funnel_id", "visitor_id"],
    keyOf: byStep
      ? { step_id: "e.funnel_step_id", visitor_id: "e.visitor_id" }
      : { visitor_id: "e.visitor_id" },
    measures: {
      [first]: { of: "min(e.created_at)", merge: "least" },
      [last]: { of: "max(e.created_at)", merge: "greatest" },
    },
    ...(where === undefined ? {} : { where }),
    retention: { column: last },
  };
}

/** Step entries and exits per step and UTC day, by the step before (entries) or after (exits), outcome and reason. */
const stepPaths: EventRollup = {
  table: "agg_step_paths_daily",
  key: ["funnel_id", "step_id", "bucket", "kind", "other_step_id", "exit_outcome", "reason"],
  keyOf: {
    step_id: "e.funnel_step_id",
    bucket: bucketOf("1 day"),
    kind: "case e.event_type when 'step_entry' then 'entry' else 'exit' end",
    other_step_id: `coalesce(case e.event_type when 'step_entry' then e.previous_step_id else e.next_step_id end, '${NO_STEP}'::uuid)`,
    exit_outcome: "coalesce(e.exit_outcome, '')",
    // `metadata.reason` of an exit, when a non-empty string.
    reason: `coalesce(case when e.event_type = 'step_exit' and jsonb_typeof(e.metadata -> 'reason') = 'string'
      and e.metadata ->> 'reason' <> '' then left(e.metadata ->> 'reason', 100) end, '')`,
  },
  measures: { events: { of: "count(*)", merge: "sum" } },
  where: "e.event_type in ('step_entry', 'step_exit') and e.funnel_step_id is not null",
  retention: { bucketWidth: "1 day" },
  hot: true,
};

/** Every rollup kept from counted events alone, in the order a batch writes them (hot ones last). */
export const EVENT_ROLLUPS: readonly EventRollup[] = [
  sessionBuckets("agg_session_buckets", "15 minutes"),
  sessionBuckets("agg_session_buckets_daily", "1 day"),
  stepBuckets("agg_step_buckets", "15 minutes"),
  stepBuckets("agg_step_buckets_daily", "1 day"),
  span("agg_step_visitors", ["first_entry_at", "last_entry_at"], STEP_ENTRY, true),
  span("agg_converters", ["first_conversion_at", "last_conversion_at"], "e.event_type = 'conversion'"),
  span("agg_funnel_visitors", ["first_seen_at", "last_seen_at"], undefined),
  eventCounts("agg_event_counts", "15 minutes"),
  eventCounts("agg_event_counts_hourly", "1 hour"),
  eventCounts("agg_event_counts_daily", "1 day"),
  stepPaths,
];

/**
 * The facts some rollups are sums of: rows the deriver writes again, whole, for every session (step
 * visits) or order (conversions and refunds) a batch touches. Each statement that changes a fact row
 * logs the row's old version with sign -1 and its new one with +1 in the fact's changes table (a
 * temporary table of these columns); the fact rollups add up the logged rows at the end of the
 * batch, and a rebuild sums the fact table itself (every row with sign 1).
 */
export const FACTS = {
  agg_step_visits: {
    changes: "changed_step_visits",
    columns: {
      account_id: "uuid",
      funnel_id: "uuid",
      step_id: "uuid",
      entry_at: "timestamptz",
      exit_outcome: "text",
      duration_ms: "bigint",
      source: "text",
      device_type: "text",
      browser: "text",
    },
  },
  agg_conversions: {
    changes: "changed_conversions",
    columns: {
      account_id: "uuid",
      funnel_id: "uuid",
      at: "timestamptz",
      kind: "text",
      conversion_type: "text",
      value_cents: "bigint",
      step_id: "uuid",
      source: "text",
    },
  },
} as const;

export type Fact = keyof typeof FACTS;

/** A rollup that sums rows of a fact (`f`, with its `sign`): kept up from the logged changes. */
export interface FactRollup {
  table: string;
  fact: Fact;
  key: readonly string[];
  /** The value of each key column from a fact row `f` (and `d`, when `each` adds one); `funnel_id` is the row's. */
  keyOf: Readonly<Record<string, string>>;
  /** Signed sums over the group's rows `f`. */
  measures: Readonly<Record<string, string>>;
  /** Which fact rows count (SQL over `f`). */
  where?: string;
  /** A set-returning join after the fact (`cross join lateral ... as d(...)`): each row counts once per its rows. */
  each?: string;
  /** The measure whose 0 means no row: a row the changes leave at 0 goes, as a rebuild keeps none. */
  goneAtZero: string;
  retention: { bucketWidth: BucketWidth };
}

const dayOf = (column: string) => `date_bin('1 day', ${column}, timestamptz '1970-01-01 00:00:00+00')`;

/** Every rollup summed from facts, written last in a batch (every batch adds to this day's rows). */
export const FACT_ROLLUPS: readonly FactRollup[] = [
  {
    // Exited step visits per step and UTC day of their entry: count and total time.
    table: "agg_step_times_daily",
    fact: "agg_step_visits",
    key: ["funnel_id", "step_id", "bucket"],
    keyOf: { step_id: "f.step_id", bucket: dayOf("f.entry_at") },
    measures: { visits: "sum(f.sign)", total_ms: "sum(f.sign * f.duration_ms)" },
    where: "f.duration_ms is not null",
    goneAtZero: "visits",
    retention: { bucketWidth: "1 day" },
  },
  {
    // Step visits per step, UTC day of their entry and segment of their session; those dropped off.
    table: "agg_step_segments_daily",
    fact: "agg_step_visits",
    key: ["funnel_id", "step_id", "bucket", "dimension", "value"],
    keyOf: { step_id: "f.step_id", bucket: dayOf("f.entry_at"), dimension: "d.dimension", value: "d.value" },
    measures: {
      visits: "sum(f.sign)",
      drops: "coalesce(sum(f.sign) filter (where f.exit_outcome in ('bounce', 'close')), 0)",
    },
    each: "cross join lateral (values ('source', f.source), ('device', f.device_type::text), ('browser', f.browser::text)) as d(dimension, value)",
    goneAtZero: "visits",
    retention: { bucketWidth: "1 day" },
  },
  {
    // Counted conversions (once their step and source are set) and counted refunds per UTC day,
    // type, step and source: counts, values, those with a value, and orders (a value above 0).
    table: "agg_conversions_daily",
    fact: "agg_conversions",
    key: ["funnel_id", "bucket", "kind", "conversion_type", "step_id", "source"],
    keyOf: {
      bucket: dayOf("f.at"),
      kind: "f.kind",
      conversion_type: "coalesce(f.conversion_type, '')",
      step_id: `coalesce(f.step_id, '${NO_STEP}'::uuid)`,
      source: "coalesce(f.source, '')",
    },
    measures: {
      conversions: "sum(f.sign)",
      value_cents: "coalesce(sum(f.sign * f.value_cents), 0)",
      valued: "coalesce(sum(f.sign) filter (where f.value_cents is not null), 0)",
      orders: "coalesce(sum(f.sign) filter (where f.value_cents > 0), 0)",
      order_cents: "coalesce(sum(f.sign * f.value_cents) filter (where f.value_cents > 0), 0)",
    },
    where: "(f.kind = 'conversion' and f.source is not null) or f.kind = 'refund'",
    goneAtZero: "conversions",
    retention: { bucketWidth: "1 day" },
  },
];
