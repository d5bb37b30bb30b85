import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { expiredExportFiles, markExportFileDeleted } from "@funnel/db/queries/exports";
import type { Deps } from "../deps";
import { removeExportFiles } from "./files";
import { EXPORT_TTL_MS } from "./jobs";

/** How often a worker process deletes expired export files. */
export const CLEANUP_INTERVAL_MS = 15 * 60 * 1000;

/**
 * Deletes the files of exports past their 24 hours and marks them deleted; then anything else in
 * the folder older than that plus an hour (a run that died before renaming its temporary file, an
 * export of a deleted account). Safe to run in several processes at once. Returns the exports
 * whose files it deleted.
 */
export async function cleanupExpiredExports(deps: Pick<Deps, "database" | "exports">): Promise<number> {
  const { db } = deps.database;
  const now = deps.exports.now();
  let deleted = 0;
  for (;;) {
    const expired = await expiredExportFiles(db, now, 500);
    if (expired.length === 0) break;
    await Promise.all(expired.map((e) => removeExportFiles(deps.exports.dir, e.id, e.fileName)));
    await markExportFileDeleted(
      db,
      expired.map((e) => e.id),
      now,
    );
    deleted += expired.length;
  }
  await sweepStrays(deps.exports.dir, now.getTime() - EXPORT_TTL_MS - 3600_000);
  return deleted;
}

async function sweepStrays(dir: string, before: number): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => null);
    if (info?.isFile() && info.mtimeMs < before) await rm(path, { force: true });
  }
}
