/**
 * Merges the jobs (or the parts of jobs, handler.ts) waiting for a writer into few writes. A write
 * is a transaction of a few dozen statements whatever its size, so the items that arrived while the
 * previous write ran go out together, up to `maxEvents`. At most `writers` writes are in flight; the
 * ingest handler runs one merger per lane with one writer each. An item's promise settles with the
 * write that carried it.
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
}

export class WriteMerger<T> {
  private waiting: Pending<T>[] = [];
  private active = 0;

  constructor(private readonly options: WriteMergerOptions<T>) {}

  /** Resolves once a committed write carried `item`. */
  submit(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ item, size: this.options.sizeOf(item), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.active < this.options.writers && this.waiting.length > 0) {
      const group = this.take();
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
