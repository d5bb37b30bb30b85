import { randomUUID } from "node:crypto";
import { readFileSync, unlinkSync } from "node:fs";
import { link, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";

/**
 * One process at a time per PGlite data directory. PGlite is a single-user PostgreSQL: a second
 * process that opens the same folder keeps its own copy of the database in memory and writes over
 * the first one's files, so its changes are lost and the files can be corrupted. Whoever opens the
 * folder takes this lock first: a file created only if absent, holding the pid of its process.
 */

const LOCK_FILE = "funnel.lock";
/** Guards the takeover of a stale lock, so two processes cannot both take it over. */
const TAKEOVER_FILE = "funnel.lock.takeover";
/** A takeover guard older than this was left by a process that died taking over. */
const STALE_TAKEOVER_MS = 10_000;
const TAKEOVER_WAIT_MS = 50;
const ATTEMPTS = 40;

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";

  constructor(
    readonly dataDir: string,
    /** The process that holds the directory. */
    readonly pid: number,
  ) {
    super(
      `the PGlite data directory ${dataDir} is in use by process ${pid}: one process at a time can open it ` +
        `(stop that process first, or remove ${join(dataDir, LOCK_FILE)} if it is not a funnel process)`,
    );
  }
}

export interface DataDirLock {
  /** Removes the lock file (if it is still this process's); safe to call more than once. */
  release(): void;
}

/** Lock files this process holds: a pid can come back after a restart (pid 1 in a container). */
const held = new Set<string>();

/** Takes the lock of `dataDir` or throws DataDirLockedError; a lock of a dead process is taken over. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const lockPath = resolve(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (held.has(lockPath)) throw new DataDirLockedError(dataDir, process.pid);
    if (await createLockFile(lockPath)) {
      releaseAtExit();
      return { release: () => release(lockPath) };
    }
    const holder = await readHolder(lockPath);
    if (holder !== undefined && isRunning(holder, lockPath)) throw new DataDirLockedError(dataDir, holder);
    await takeOver(dataDir, lockPath, holder);
  }
  throw new Error(`could not take the lock of ${dataDir}: other processes keep taking it over`);
}

/**
 * Creates the lock file with this pid in it, or returns false when it exists. The file is written
 * under another name and linked into place, so a reader never sees it empty or half written.
 */
async function createLockFile(lockPath: string): Promise<boolean> {
  const draft = `${lockPath}.${randomUUID()}`;
  await writeFile(draft, `${process.pid}\n`, { mode: 0o600 });
  try {
    await link(draft, lockPath);
    // At once: another opener in this process must find it held, not a lock of a previous life.
    held.add(lockPath);
    return true;
  } catch (error) {
    if (codeOf(error) === "EEXIST") return false;
    throw error;
  } finally {
    await rm(draft, { force: true });
  }
}

/** The pid in the lock file; undefined when it is gone or does not hold one. */
async function readHolder(lockPath: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(lockPath, "utf8");
  } catch (error) {
    if (codeOf(error) === "ENOENT") return undefined;
    throw error;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether `pid` runs; this process's own pid in a lock it does not hold is from a previous life. */
function isRunning(pid: number, lockPath: string): boolean {
  if (pid === process.pid) return held.has(lockPath);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, under another user.
    return codeOf(error) === "EPERM";
  }
}

/**
 * Removes the lock of `staleHolder` (a dead process, or no pid at all) unless someone else took
 * it over meanwhile. Only the holder of the takeover guard removes a lock, after reading it again:
 * without the guard two processes could each remove the other's fresh lock and both go on.
 */
async function takeOver(dataDir: string, lockPath: string, staleHolder: number | undefined): Promise<void> {
  const guard = join(dataDir, TAKEOVER_FILE);
  if (!(await createGuard(guard))) {
    await removeStaleGuard(guard);
    await new Promise((resolve) => setTimeout(resolve, TAKEOVER_WAIT_MS));
    return;
  }
  try {
    const holder = await readHolder(lockPath);
    if (holder === staleHolder) await rm(lockPath, { force: true });
  } finally {
    await rm(guard, { force: true });
  }
}

async function createGuard(guard: string): Promise<boolean> {
  try {
    await writeFile(guard, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
    return true;
  } catch (error) {
    if (codeOf(error) === "EEXIST") return false;
    throw error;
  }
}

async function removeStaleGuard(guard: string): Promise<void> {
  try {
    const { mtimeMs } = await stat(guard);
    if (Date.now() - mtimeMs > STALE_TAKEOVER_MS) await unlink(guard);
  } catch (error) {
    if (codeOf(error) !== "ENOENT") throw error;
  }
}

function release(lockPath: string): void {
  if (!held.delete(lockPath)) return;
  try {
    if (readFileSync(lockPath, "utf8").trim() === String(process.pid)) unlinkSync(lockPath);
  } catch (error) {
    if (codeOf(error) !== "ENOENT") throw error;
  }
}

let releasingAtExit = false;
/** A process that exits without closing its database (process.exit) leaves no lock behind. */
function releaseAtExit(): void {
  if (releasingAtExit) return;
  releasingAtExit = true;
  process.once("exit", () => {
    for (const lockPath of [...held]) {
      try {
        release(lockPath);
      } catch {
        // Exiting anyway: a lock left behind is taken over by the next opener, its pid being dead.
      }
    }
  });
}

function codeOf(error: unknown): unknown {
  return typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
}
