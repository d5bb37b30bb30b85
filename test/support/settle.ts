import type { Queue } from "bullmq";

/** Jobs of an ingest queue by state (waiting includes prioritized jobs and a paused queue's). */
export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

export interface Settled {
  at: number;
  storedRows: number;
  queue: QueueCounts;
  /** Stored events whose rollups were not derived yet. */
  backlog: number;
}

/**
 * The jobs of a BullMQ queue by state, from BullMQ's own count script: one call, so a job that
 * moves between two states meanwhile (a stalled job going back from `active` to `wait`, a delayed
 * one promoted) is counted once. Read one list at a time, such a job was counted in neither, and
 * the queue looked empty while it still held a job.
 */
export async function queueCounts(queue: Queue): Promise<QueueCounts> {
  const counts = await queue.getJobCounts("wait", "prioritized", "active", "delayed", "failed");
  return {
    waiting: (counts.wait ?? 0) + (counts.prioritized ?? 0),
    active: counts.active ?? 0,
    delayed: counts.delayed ?? 0,
    failed: counts.failed ?? 0,
  };
}

export interface SettleOptions {
  readQueue: () => Promise<QueueCounts>;
  /** Rows in the events table. */
  readRows: () => Promise<number>;
  /** Rows in the rollup backlog (stored events the deriver has not derived yet); none when not given. */
  readBacklog?: () => Promise<number>;
  /** Events answered 202: settled once that many rows are stored and the queue is empty. */
  accepted: number;
  timeoutMs?: number;
  /** An empty queue with rows still missing is taken as a loss once the rows have not changed for this long. */
  quietMs?: number;
  pollMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Waits until the queue is empty, every accepted event is stored and its rollups derived (the
 * backlog is empty), or the queue and the backlog are empty and no row came for `quietMs` (a
 * loss), or `timeoutMs` passed.
 *
 * The queue is read before the rows, never beside them: a job leaves the queue only after its
 * events committed, so rows read after an empty queue hold every event that queue carried. Read
 * together, the count could come from just before the last write's commit and the queue from just
 * after that job completed, and a run whose last jobs waited out a stall (rows unchanged for the
 * quiet time) would be taken for settled with those jobs' events missing.
 */
export async function settle(options: SettleOptions): Promise<Settled> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const quietMs = options.quietMs ?? 15_000;
  const deadline = now() + (options.timeoutMs ?? 300_000);
  let last = -1;
  let unchangedSince = now();
  for (;;) {
    const queue = await options.readQueue();
    const rows = await options.readRows();
    // After the rows: an event leaves the backlog only after it was stored.
    const backlog = (await options.readBacklog?.()) ?? 0;
    const at = now();
    if (rows !== last) {
      last = rows;
      unchangedSince = at;
    }
    const empty = queue.waiting + queue.active + queue.delayed === 0 && backlog === 0;
    if ((empty && rows >= options.accepted) || (empty && at - unchangedSince > quietMs) || at > deadline) {
      return { at, storedRows: rows, queue, backlog };
    }
    await sleep(options.pollMs ?? 250);
  }
}
