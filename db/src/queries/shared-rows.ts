import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../client";
import { chunks, sortedValues, type UnnestColumn, unnestInsert } from "./unnest";

/**
 * The rollup rows that every write adds to, whatever visitors it holds: per day (step segments, step
 * times, conversions, products, converted days, day links). The writer derives its
 * changes to them as it goes and adds them here, summed; they are written last in the transaction
 * (before only the count rows), each table once, in key order.
 *
 * Written where they were derived, the first of these rows that a concurrent write had also changed
 * made this write wait for that one's commit with most of its own work still ahead: two writes of
 * different visitors took turns. Written last, their locks are held only until the commit, and two
 * writes running side by side (the deriver's lanes, derive.ts) wait on each other
 * for that moment only. One order of tables and keys for every write: no deadlock between them.
 */
export class SharedRows {
  private readonly orderSources = new Map<string, OrderSource>();
  private readonly convertedDays = new Map<string, ConvertedDayChange>();
  private readonly dayLinks = new Map<string, DayLinkChange>();

  /** A conversion with products stored by this write (a row of agg_conversions). */
  addOrderSource(accountId: string, funnelId: string, eventId: string): void {
    this.orderSources.set(`${funnelId}|${eventId}|${accountId}`, { accountId, funnelId, eventId });
  }

  /** A visitor's converted day of a step (agg_step_converted) that came (+1) or went (-1). */
  addConvertedDay(c: Omit<ConvertedDayChange, "visitors">, sign: number): void {
    const key = [c.funnelId, c.stepId, c.bucket, c.nextBucket, c.entryBucket].join("|");
    const row = this.convertedDays.get(key) ?? { ...c, visitors: 0 };
    row.visitors += sign;
    this.convertedDays.set(key, row);
  }

  /** Units of a kind linking `bucket` to their previous day `prev` ('-infinity': none before). */
  addDayLink(c: Omit<DayLinkChange, "units">, units: number): void {
    const key = [c.funnelId, c.kind, c.stepId, c.bucket, c.prev].join("|");
    const row = this.dayLinks.get(key) ?? { ...c, units: 0 };
    row.units += units;
    this.dayLinks.set(key, row);
  }

  /** Writes what was added, table by table in a fixed order, rows in key order. */
  async write(tx: Database): Promise<void> {
    await writeOrderSources(tx, sortedValues(this.orderSources));
    await writeConvertedDays(
      tx,
      sortedValues(this.convertedDays).filter((c) => c.visitors !== 0),
    );
    await writeDayLinks(
      tx,
      sortedValues(this.dayLinks).filter((l) => l.units !== 0),
    );
  }
}

interface OrderSource {
  accountId: string;
  funnelId: string;
  eventId: string;
}

interface ConvertedDayChange {
  accountId: string;
  funnelId: string;
  stepId: string;
  /** As the database prints a timestamptz; next_bucket may be 'infinity'. */
  bucket: string;
  nextBucket: string;
  entryBucket: string;
  visitors: number;
}

interface DayLinkChange {
  accountId: string;
  funnelId: string;
  kind: number;
  stepId: string;
  /** ISO times; prev may be '-infinity'. */
  bucket: string;
  prev: string;
  units: number;
}

/**
 * The products of the conversions in `source` (rows of agg_conversions), one row per valid item:
 * the rules of topProducts (db/src/queries/reports.ts), shared by the daily rollup.
 */
export function productItems(source: SQL): SQL {
  return sql`select c.account_id, c.funnel_id, c.at, c.event_id, p ->> 'product_id' as id,
      case when jsonb_typeof(p -> 'product_name') = 'string' then p ->> 'product_name' end as name,
      (p ->> 'quantity')::numeric as q, (p ->> 'price_cents')::numeric as price
    from ${source} c
    cross join lateral jsonb_array_elements(c.products) as p
    where c.kind = 'conversion' and c.value_cents > 0 and jsonb_typeof(c.products) = 'array'
      and jsonb_typeof(p) = 'object' and jsonb_typeof(p -> 'product_id') = 'string'
      and jsonb_typeof(p -> 'quantity') = 'number' and jsonb_typeof(p -> 'price_cents') = 'number'`;
}

const NEWER_NAME = sql.raw(
  "excluded.name is not null and (agg_products_daily.name is null or (excluded.name_at, excluded.name_event_id) > (agg_products_daily.name_at, agg_products_daily.name_event_id))",
);

/**
 * The products of orders (agg_products_daily), read back from the agg_conversions rows this write
 * stored. (Conversions are counted on their day once their step and source are known, refunds once
 * counted against their order: writeConversions.)
 */
async function writeOrderSources(tx: Database, keys: OrderSource[]): Promise<void> {
  if (keys.length === 0) return;
  await tx.execute(
    sql`with stored as (
        select c.* from agg_conversions c
        join unnest(${sql.param(keys.map((k) => k.accountId))}::text[]::uuid[],
          ${sql.param(keys.map((k) => k.funnelId))}::text[]::uuid[],
          ${sql.param(keys.map((k) => k.eventId))}::text[]::uuid[]) as k(account_id, funnel_id, event_id)
          on c.account_id = k.account_id and c.funnel_id = k.funnel_id and c.event_id = k.event_id
      )
      insert into agg_products_daily
      select min(account_id::text)::uuid, funnel_id, date_bin('1 day', at, timestamptz '1970-01-01 00:00:00+00'), id,
        sum(q * price), sum(q),
        (array_agg(name order by at desc, event_id desc) filter (where name is not null))[1],
        (array_agg(at order by at desc, event_id desc) filter (where name is not null))[1],
        (array_agg(event_id order by at desc, event_id desc) filter (where name is not null))[1]
      from (${productItems(sql`stored`)}) items
      group by funnel_id, 3, id
      order by funnel_id, 3, id
      on conflict (funnel_id, bucket, product_id) do update set
        revenue = agg_products_daily.revenue + excluded.revenue,
        units = agg_products_daily.units + excluded.units,
        name = case when ${NEWER_NAME} then excluded.name else agg_products_daily.name end,
        name_at = case when ${NEWER_NAME} then excluded.name_at else agg_products_daily.name_at end,
        name_event_id = case when ${NEWER_NAME} then excluded.name_event_id else agg_products_daily.name_event_id end`,
  );
}

/** agg_step_converted_days: converted visitors per step and days; a row left at none goes. */
async function writeConvertedDays(tx: Database, rows: ConvertedDayChange[]): Promise<void> {
  await addUp(tx, "agg_step_converted_days", rows, {
    keys: (r) => [
      ["funnel_id", "uuid", r.map((c) => c.funnelId)],
      ["step_id", "uuid", r.map((c) => c.stepId)],
      ["bucket", "timestamptz", r.map((c) => c.bucket)],
      ["next_bucket", "timestamptz", r.map((c) => c.nextBucket)],
      ["entry_bucket", "timestamptz", r.map((c) => c.entryBucket)],
    ],
    figures: (r) => [["visitors", "int8", r.map((c) => String(c.visitors))]],
    goneAtZero: "visitors",
  });
}

/** agg_day_links: units per (day, previous day); link rows left at no units go. */
async function writeDayLinks(tx: Database, rows: DayLinkChange[]): Promise<void> {
  await addUp(tx, "agg_day_links", rows, {
    keys: (r) => [
      ["funnel_id", "uuid", r.map((c) => c.funnelId)],
      ["kind", "int2", r.map((c) => String(c.kind))],
      ["step_id", "uuid", r.map((c) => c.stepId)],
      ["bucket", "timestamptz", r.map((c) => c.bucket)],
      ["prev_bucket", "timestamptz", r.map((c) => c.prev)],
    ],
    figures: (r) => [["units", "int8", r.map((c) => String(c.units))]],
    goneAtZero: "units",
  });
}

/**
 * Adds `rows` (in key order) to the rows of `table` with the same keys: figures summed, a missing
 * row inserted; then, with `goneAtZero`, deletes the rows at these keys that the changes left at 0
 * in that column (a rebuild from the events keeps no such row). One statement per 1,000 rows, in
 * order, so two writes lock shared rows in one order.
 */
async function addUp<T extends { accountId: string }>(
  tx: Database,
  table: string,
  rows: T[],
  columns: {
    keys: (rows: T[]) => UnnestColumn[];
    figures: (rows: T[]) => UnnestColumn[];
    goneAtZero?: string;
  },
): Promise<void> {
  if (rows.length === 0) return;
  for (const chunk of chunks(rows)) {
    const keys = columns.keys(chunk);
    const figures = columns.figures(chunk);
    const sums = figures.map(([name]) => `${name} = ${table}.${name} + excluded.${name}`).join(", ");
    await tx.execute(
      sql`${unnestInsert(table, [["account_id", "uuid", chunk.map((r) => r.accountId)], ...keys, ...figures])}
        on conflict (${sql.raw(keys.map(([name]) => name).join(", "))}) do update set ${sql.raw(sums)}`,
    );
  }
  if (columns.goneAtZero) {
    // Each key with its account: the delete touches no other account's row.
    const keys: UnnestColumn[] = [
      ["account_id", "uuid", rows.map((r) => r.accountId)],
      ...columns.keys(rows),
    ];
    await deleteLeftAtZero(tx, table, columns.goneAtZero, keys);
  }
}

/**
 * Deletes the rows of `table` at these keys that the changes left at 0 in `counter`: a rebuild
 * from the events keeps no such row.
 */
async function deleteLeftAtZero(
  tx: Database,
  table: string,
  counter: string,
  keys: UnnestColumn[],
): Promise<void> {
  const names = keys.map(([name]) => name);
  const arrays = sql.join(
    keys.map(([, type, values]) => sql`${sql.param(values)}::text[]::${sql.raw(type)}[]`),
    sql`, `,
  );
  await tx.execute(
    sql`delete from ${sql.raw(table)} t using unnest(${arrays}) as k(${sql.raw(names.join(", "))})
      where ${sql.raw(names.map((n) => `t.${n} = k.${n}`).join(" and "))} and t.${sql.raw(counter)} = 0`,
  );
}
