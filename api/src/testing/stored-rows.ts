import { queryRows } from "@funnel/db/client";
import { sql } from "@funnel/db/orm";
import type { TestApp } from "./deps";

/**
 * Raw reads of what the database holds, for tests that hold the API's answers to the stored rows
 * (route files may not import the ORM). Times come back as ISO strings in UTC with milliseconds.
 */

export interface StoredEventRow {
  event_id: string;
  account_id: string;
  funnel_id: string;
  event_type: string;
  visitor_id: string;
  session_id: string;
  page_id: string | null;
  funnel_step_id: string | null;
  url: string | null;
  conversion_type: string | null;
  value_cents: number | null;
  user_agent: string | null;
  ip_address: string | null;
  referrer: string | null;
  utm_source: string | null;
  device_type: string | null;
  browser: string | null;
  is_bot: boolean;
  metadata: Record<string, unknown>;
  created_at: string;
}

/** Every stored event with its personal fields and account. */
export async function storedEventRows(t: TestApp): Promise<StoredEventRow[]> {
  const rows = await queryRows<{ j: string | StoredEventRow }>(
    t.deps.database.db,
    sql`select json_build_object(
        'event_id', event_id, 'account_id', account_id, 'funnel_id', funnel_id, 'event_type', event_type,
        'visitor_id', visitor_id, 'session_id', session_id, 'page_id', page_id,
        'funnel_step_id', funnel_step_id, 'url', url, 'conversion_type', conversion_type,
        'value_cents', value_cents, 'user_agent', user_agent,
        'ip_address', host(ip_address), 'referrer', referrer, 'utm_source', utm_source,
        'device_type', device_type, 'browser', browser, 'is_bot', is_bot, 'metadata', metadata,
        'created_at', to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      )::text as j
      from analytics_events`,
  );
  return rows.map((r) => (typeof r.j === "string" ? (JSON.parse(r.j) as StoredEventRow) : r.j));
}

/** Every refused event's account and payload. */
export async function storedRejectedPayloads(
  t: TestApp,
): Promise<{ account_id: string | null; reason: string; payload: Record<string, unknown> }[]> {
  const rows = await queryRows<{ account_id: string | null; reason: string; payload: unknown }>(
    t.deps.database.db,
    sql`select account_id, reason, payload from rejected_events order by id`,
  );
  return rows.map((r) => ({
    account_id: r.account_id,
    reason: r.reason,
    payload: (typeof r.payload === "string" ? JSON.parse(r.payload) : r.payload) as Record<string, unknown>,
  }));
}

/** Tables of the schema with a column of this name (e.g. every table that holds a visitor id). */
export async function tablesWithColumn(t: TestApp, column: string): Promise<string[]> {
  const rows = await queryRows<{ table_name: string }>(
    t.deps.database.db,
    sql`select c.table_name from information_schema.columns c
      join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
      where c.table_schema = current_schema() and c.column_name = ${column} and t.table_type = 'BASE TABLE'
      order by 1`,
  );
  return [...new Set(rows.map((r) => r.table_name))];
}

/**
 * Rows per table whose text (every column, JSON included) contains `needle`, over every table of
 * the schema; tables with none are left out. A monthly partition is counted with its parent too.
 * `exceptAccount` leaves out that account's rows in tables with an `account_id`.
 */
export async function rowsContaining(
  t: TestApp,
  needle: string,
  options: { exceptAccount?: string } = {},
): Promise<Record<string, number>> {
  const tables = await queryRows<{ table_name: string }>(
    t.deps.database.db,
    sql`select table_name from information_schema.tables
      where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`,
  );
  const withAccount = new Set(await tablesWithColumn(t, "account_id"));
  const found: Record<string, number> = {};
  for (const { table_name } of tables) {
    const except =
      options.exceptAccount !== undefined && withAccount.has(table_name)
        ? sql`and r.account_id is distinct from ${options.exceptAccount}::uuid`
        : sql``;
    const [row] = await queryRows<{ n: number | string }>(
      t.deps.database.db,
      sql`select count(*) as n from ${sql.identifier(table_name)} as r
        where lower(r::text) like ${`%${needle.toLowerCase()}%`} ${except}`,
    );
    const n = Number(row?.n ?? 0);
    if (n > 0) found[table_name] = n;
  }
  return found;
}
