import { type SQL, sql } from "drizzle-orm";

/** Rows per statement: unnest binds one array per column, so the size is about memory, not parameters. */
export const ROWS_PER_STATEMENT = 1_000;

/** [column, its SQL type, values as text (or null)]. */
export type UnnestColumn = readonly [string, string, (string | null)[]];

export function unnestInsert(table: string, columns: UnnestColumn[]): SQL {
  const names = sql.raw(columns.map(([name]) => `"${name}"`).join(", "));
  const selected = sql.raw(columns.map(([, type], i) => `u.c${i}::${type}`).join(", "));
  const arrays = sql.join(
    columns.map(([, , values]) => sql`${sql.param(values)}::text[]`),
    sql`, `,
  );
  const aliases = sql.raw(columns.map((_, i) => `c${i}`).join(", "));
  return sql`insert into ${sql.raw(`"${table}"`)} (${names}) select ${selected} from unnest(${arrays}) as u(${aliases})`;
}

export function chunks<T>(rows: T[], size = ROWS_PER_STATEMENT): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

/** Map values sorted by key, so that concurrent batches take row locks in one order. */
export function sortedValues<T>(map: Map<string, T>): T[] {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}
