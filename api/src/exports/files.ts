import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DocumentInput } from "./document";
import type { ExportFormat } from "./jobs";

/**
 * Export files in EXPORT_DIR: `<id>.<format>` is the file users download; `<id>.source.json` the
 * report data it was rendered from, kept (for reports that list visitors) so that a visitor can be
 * anonymised in it later. Both are written whole to a temporary name and renamed, so a download
 * never reads half a file.
 */

export function exportFileName(id: string, format: ExportFormat): string {
  return `${id}.${format}`;
}

function sourceFileName(id: string): string {
  return `${id}.source.json`;
}

/** Renders into a temporary file with `write`, then returns it; `commit` moves it into place. */
export async function stageFile(
  dir: string,
  write: (path: string) => Promise<void>,
): Promise<{
  path: string;
  byteSize: number;
  commit(name: string): Promise<void>;
  discard(): Promise<void>;
}> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `.${randomUUID()}.tmp`);
  try {
    await write(path);
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  const { size } = await stat(path);
  return {
    path,
    byteSize: size,
    commit: (name) => rename(path, join(dir, name)),
    discard: () => rm(path, { force: true }),
  };
}

export async function writeSource(dir: string, id: string, source: DocumentInput): Promise<void> {
  const staged = await stageFile(dir, (path) => writeFile(path, JSON.stringify(source)));
  await staged.commit(sourceFileName(id));
}

/** The source of a completed export, or null when it kept none (or it is gone). */
export async function readSource(dir: string, id: string): Promise<DocumentInput | null> {
  try {
    const stored = JSON.parse(await readFile(join(dir, sourceFileName(id)), "utf8")) as Omit<
      DocumentInput,
      "generatedAt"
    > & { generatedAt: string };
    // JSON keeps the date as its ISO string: the re-rendered file says when it was first generated.
    return { ...stored, generatedAt: new Date(stored.generatedAt) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

export async function removeExportFiles(dir: string, id: string, fileName: string | null): Promise<void> {
  await Promise.all([
    fileName ? rm(join(dir, fileName), { force: true }) : Promise.resolve(),
    rm(join(dir, sourceFileName(id)), { force: true }),
  ]);
}
