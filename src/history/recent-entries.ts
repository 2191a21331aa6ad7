import type { HistoryEntry } from './history.js';
import { compareIds, idMs, type StreamId } from './offset.js';

/** Bytes an entry is counted for: its strings (UTF-16) and the object around them. */
const entryBytes = (e: HistoryEntry): number => 2 * (e.id.length + e.channel.length + e.raw.length) + 64;

/**
 * The newest history entries, in stream order, bounded in count and bytes (the oldest go
 * first). Replays read them from here rather than from Redis: a thousand clients resuming
 * after a restart read memory, not a thousand copies of the stream, and get the same entry
 * objects, so that what is derived from an entry (its parsed event, its frames) is derived once.
 */
export class RecentEntries {
  private items: HistoryEntry[] = [];
  /** Index of the oldest kept entry in `items` (the array is compacted now and then). */
  private start = 0;
  private size = 0;
  /**
   * True while nothing older than the first kept entry exists: what was pushed started with the
   * stream's first entry and nothing has been evicted since.
   */
  private complete = true;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  get length(): number {
    return this.items.length - this.start;
  }

  get bytes(): number {
    return this.size;
  }

  get first(): StreamId | undefined {
    return this.items[this.start]?.id;
  }

  get last(): StreamId | undefined {
    return this.items[this.items.length - 1]?.id;
  }

  /** Appends the next entry; evicts the oldest past the bounds. Ids only increase: one that does not starts the record over. */
  push(entry: HistoryEntry): void {
    if (this.maxEntries <= 0 || this.maxBytes <= 0) return void (this.complete = false);
    const last = this.last;
    if (last !== undefined && compareIds(entry.id, last) <= 0) this.clear();
    this.items.push(entry);
    this.size += entryBytes(entry);
    while (this.length > 1 && (this.length > this.maxEntries || this.size > this.maxBytes)) this.evict();
  }

  /** Forgets everything (a new epoch); `complete`: the next push is the stream's first entry. */
  clear(complete = false): void {
    this.items = [];
    this.start = 0;
    this.size = 0;
    this.complete = complete;
  }

  /** Drops the entries older than `ms` (the history's age bound). */
  dropOlderThan(ms: number): void {
    while (this.length && idMs(this.items[this.start].id) < ms) this.evict();
  }

  /**
   * Entries after `after` up to `upTo` included, at most `count`, oldest first; undefined when
   * entries after `after` may exist that are no longer (or not) kept here, unless `partial`.
   */
  range(after: StreamId, upTo: StreamId, count: number, partial = false): HistoryEntry[] | undefined {
    const first = this.first;
    if (!partial && !this.complete && (first === undefined || compareIds(first, after) > 0)) return undefined;
    // Both ends by binary search: a storm of replays pages through thousands of entries each.
    const from = this.firstAfter(after);
    return this.items.slice(from, Math.min(from + Math.max(0, count), this.firstAfter(upTo)));
  }

  /** Whether the entry `id` is kept here. */
  has(id: StreamId): boolean {
    const i = this.firstAfter(id) - 1;
    return i >= this.start && this.items[i].id === id;
  }

  /** Index of the first kept entry whose id is after `id` (binary search). */
  private firstAfter(id: StreamId): number {
    let [lo, hi] = [this.start, this.items.length];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareIds(this.items[mid].id, id) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private evict(): void {
    this.size -= entryBytes(this.items[this.start]);
    this.start++;
    this.complete = false;
    // Compacted once half of the array is gone: amortised O(1) per entry.
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
  }
}
