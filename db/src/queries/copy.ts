import type postgres from "postgres";
import type { UnnestColumn } from "./unnest";

/** Rows per piece handed to the COPY stream: a few hundred kB of text at a time. */
const ROWS_PER_PIECE = 500;

/**
 * `COPY table (columns) FROM STDIN` in PostgreSQL's text format, inside the transaction `tx`: the
 * cheapest way in for many rows (no statement to plan, no array to parse). The columns are the
 * ones `unnestInsert` takes (values as text, null for NULL), so a caller can choose either path.
 */
export async function copyColumns(
  tx: postgres.TransactionSql,
  table: string,
  columns: UnnestColumn[],
): Promise<void> {
  const rows = columns[0]?.[2].length ?? 0;
  if (rows === 0) return;
  const names = columns.map(([name]) => `"${name}"`).join(", ");
  const stream = await tx.unsafe(`copy "${table}" (${names}) from stdin`).writable();
  const done = new Promise<void>((resolve, reject) => {
    stream.once("finish", resolve);
    stream.once("error", reject);
  });
  for (let start = 0; start < rows; start += ROWS_PER_PIECE) {
    const end = Math.min(rows, start + ROWS_PER_PIECE);
    let text = "";
    for (let row = start; row < end; row++) {
      for (let c = 0; c < columns.length; c++) {
        const value = columns[c]?.[2][row] ?? null;
        text += (c === 0 ? "" : "\t") + (value === null ? "\\N" : copyText(value));
      }
      text += "\n";
    }
    if (!stream.write(text)) await new Promise<void>((resolve) => stream.once("drain", resolve));
  }
  stream.end();
  await done;
}

const SPECIAL = /[\\\n\r\t]/;

/** A value in COPY's text format: backslash, newline, carriage return and tab escaped. */
export function copyText(value: string): string {
  if (!SPECIAL.test(value)) return value;
  return value.replace(/[\\\n\r\t]/g, (ch) =>
    ch === "\\" ? "\\\\" : ch === "\n" ? "\\n" : ch === "\r" ? "\\r" : "\\t",
  );
}
