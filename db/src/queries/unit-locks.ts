import { sql } from "drizzle-orm";
import type { Database } from "../client";

/**
 * Transaction-scoped advisory locks on keys (a session, a unit of the day links), each key hashed
 * to 32 bits under a namespace (the locks' first key). Two writes wait on each other only when they
 * share a key, or, once in millions of pairs, a hash: writes of different visitors run side by
 * side. The locks are taken in one order (by hash), so two writes never deadlock on them.
 *
 * Each distinct key is one entry of PostgreSQL's shared lock table (max_locks_per_transaction ×
 * max_connections entries); a write too large for it fails with SQLSTATE 53200, which the ingest
 * worker answers by writing the jobs of that write one by one (api/src/ingest/merge.ts).
 */
export async function lockKeys(tx: Database, namespace: number, keys: Iterable<string>): Promise<void> {
  const hashes = new Set<number>();
  for (const key of keys) hashes.add(keyHash(key));
  if (hashes.size === 0) return;
  await tx.execute(
    sql`select pg_advisory_xact_lock(${namespace}::int4, h) from (select h from unnest(${sql.param(
      [...hashes].map(String),
    )}::text[]::int4[]) as h order by h) as ordered`,
  );
}

/** FNV-1a, as a signed 32-bit integer: any stable hash will do, it only has to spread the keys. */
export function keyHash(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}
