/**
 * Merges the jobs waiting for a writer (handler.ts) into few writes. A write
 * is a transaction of a few dozen statements whatever its size, so the items that arrived while the
 * previous write ran go out together, up to `maxEvents`. At most `writers` writes are in flight.
 * An item's promise settles with the write that carried it.
 *
 * Writes of one merger also start at least `minIntervalMs` apart, unless a full write is waiting
 * (`maxEvents`, or everything the worker can hold, `moreCanCome`): at a steady trickle (a few
 * events per queue job, a job every few ms) the write that follows a short one would otherwise
 * carry a handful of events, and the statements of a write cost the worker and the database about
 * the same whether it holds ten events or a thousand. A lone item after a quiet moment still goes
 * out at once.
 *
 * When a merged write fails with an error that a retry cannot fix (a value the database refuses),
 * the jobs are written again one by one, so only the job holding the bad value fails.
 */

interface Pending<T> {
  item: T;
  size: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface WriteMergerOptions<T> {
  /** Writes the items in one go. */
  write: (items: T[]) => Promise<void>;
  /** Items of one write together hold at most this many events (a larger item goes alone). */
  maxEvents: number;
  sizeOf: (item: T) => number;
  /** An error a retry would meet again: the items of a merged write are then written alone. */
  isPermanent: (error: unknown) => boolean;
  /** Writes in flight at once. */
  writers: number;
  /** Least time between the starts of two writes, unless a full write waits (default 0). */
  minIntervalMs?: number;
  /**
   * Whether more items can still arrive before a write settles some (the worker holds fewer jobs
   * than it may): when not, waiting out the interval would only delay them.
   */
  moreCanCome?: () => boolean;
}

export class WriteMerger<T> {
  private waiting: Pending<T>[] = [];
  /** Events the waiting items hold. */
  private waitingSize = 0;
  private active = 0;
  private lastStart = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: WriteMergerOptions<T>) {}

  /** Resolves once a committed write carried `item`. */
  submit(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const size = this.options.sizeOf(item);
      this.waiting.push({ item, size, resolve, reject });
      this.waitingSize += size;
      this.pump();
    });
  }

  /** Looks again at whether a write can start (`moreCanCome` may have changed). */
  poke(): void {
    this.pump();
  }

  private pump(): void {
    while (this.active < this.options.writers && this.waiting.length > 0) {
      const wait = this.lastStart + (this.options.minIntervalMs ?? 0) - performance.now();
      const full = this.waitingSize >= this.options.maxEvents || this.options.moreCanCome?.() === false;
      if (wait > 0 && !full) {
        this.timer ??= setTimeout(() => {
          this.timer = null;
          this.pump();
        }, wait);
        return;
      }
      if (this.timer !== null) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      const group = this.take();
      this.lastStart = performance.now();
      this.active++;
      void this.writeGroup(group).finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  /** The oldest waiting items, up to the event limit (always at least one). */
  private take(): Pending<T>[] {
    let events = 0;
    let n = 0;
    for (const pending of this.waiting) {
      if (n > 0 && events + pending.size > this.options.maxEvents) break;
      events += pending.size;
      n++;
    }
    this.waitingSize -= events;
    return this.waiting.splice(0, n);
  }

  private async writeGroup(group: Pending<T>[]): Promise<void> {
    try {
      await this.options.write(group.map((p) => p.item));
      for (const p of group) p.resolve();
    } catch (error) {
      if (group.length === 1 || !this.options.isPermanent(error)) {
        for (const p of group) p.reject(error);
        return;
      }
      for (const p of group) {
        try {
          await this.options.write([p.item]);
          p.resolve();
        } catch (alone) {
          p.reject(alone);
        }
      }
    }
  }
}
