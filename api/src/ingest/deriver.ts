import type { DatabaseHandle } from "@funnel/db/client";
import {
  BACKLOG_LANES,
  BacklogRowsError,
  DERIVE_MAX_EVENTS,
  deriveLane,
  failRows,
} from "@funnel/db/queries/derive";
import type { Logger } from "pino";
import { isDataError, isOutOfLocks, messageOf } from "./sql-errors";

/**
 * The worker's deriver: keeps the rollups up from the rollup backlog (db/src/queries/derive.ts),
 * off the path that accepts and stores events. `concurrency` loops each walk the lanes, deriving
 * whatever a lane holds; a loop that found nothing anywhere waits `idleMs`, or until `poke()`
 * (called after this process stored events). Another process deriving a lane is skipped, not
 * waited for.
 *
 * A derivation the database refuses for a bad value is tried again on half as many rows, down to
 * one; that one row is then marked failed and left for an operator, so a lane never stops on it.
 * Any other failure (database away, busy) is retried after `retryMs`, on the same rows.
 */
export interface Deriver {
  /** Wakes the idle loops: there is new work. */
  poke(): void;
  /** Finishes the derivations in flight and stops. */
  close(): Promise<void>;
}

export function startDeriver(deps: {
  database: DatabaseHandle;
  logger: Logger;
  /** Loops deriving at once (DERIVE_CONCURRENCY). */
  concurrency?: number;
  /** Wait of a loop that found no work, unless poked (DERIVE_IDLE_MS). */
  idleMs?: number;
  retryMs?: number;
  maxEvents?: number;
}): Deriver {
  const maxEvents = deps.maxEvents ?? DERIVE_MAX_EVENTS;
  const idleMs = deps.idleMs ?? 100;
  const retryMs = deps.retryMs ?? 1_000;
  // Rows a lane derives at once: halved after a bad value, grown back after each success.
  const size = Array.from({ length: BACKLOG_LANES }, () => maxEvents);
  let stopped = false;
  let wake: (() => void) | undefined;
  let wakeUp = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const poke = () => {
    wake?.();
    wakeUp = new Promise<void>((resolve) => {
      wake = resolve;
    });
  };
  const pause = (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      wakeUp,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]).finally(() => clearTimeout(timer));
  };

  const deriveOne = async (lane: number): Promise<number> => {
    const rows = size[lane] ?? maxEvents;
    try {
      const { derived } = await deriveLane(deps.database.db, lane, rows);
      size[lane] = Math.min(maxEvents, rows * 2);
      return derived;
    } catch (error) {
      if (!isDataError(error) && !isOutOfLocks(error)) throw error;
      if (rows > 1) {
        size[lane] = Math.max(1, Math.floor(rows / 2));
        deps.logger.warn({ err: error, lane, rows }, "deriving rollups failed; trying fewer rows");
        return 1;
      }
      // The row that failed alone, by its seq: another loop may have met it too and marked it.
      if (!(error instanceof BacklogRowsError)) throw error;
      deps.logger.error(
        { err: error, lane, seqs: error.seqs },
        "a backlog row cannot be derived; marked failed and skipped",
      );
      await failRows(deps.database.db, lane, error.seqs, messageOf(error));
      return 1;
    }
  };

  const loop = async (offset: number) => {
    while (!stopped) {
      let worked = 0;
      try {
        for (let i = 0; i < BACKLOG_LANES && !stopped; i++) {
          worked += await deriveOne((offset + i) % BACKLOG_LANES);
        }
      } catch (error) {
        if (stopped) return;
        deps.logger.error({ err: error }, "deriving rollups failed; retrying");
        await pause(retryMs);
        continue;
      }
      if (worked === 0 && !stopped) await pause(idleMs);
    }
  };
  const loops = Array.from({ length: deps.concurrency ?? 2 }, (_, i) =>
    loop(Math.floor((i * BACKLOG_LANES) / (deps.concurrency ?? 2))),
  );

  return {
    poke,
    async close() {
      stopped = true;
      poke();
      await Promise.all(loops);
    },
  };
}
