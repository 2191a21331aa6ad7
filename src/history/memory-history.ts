import { randomBytes } from 'node:crypto';
import type { Deliver, History, HistoryEntry, HistoryOptions, HistoryStats } from './history.js';
import { RecentEntries } from './recent-entries.js';
import { formatOffset, idMs, nextId, ZERO_ID, type HistoryBounds, type StreamId } from './offset.js';

/** In memory, for the embedded mode: one instance, the same bounds and numbering as Redis. */
export class MemoryHistory implements History {
  readonly mode = 'memory';
  readonly readable = true;
  readonly lost = 0;
  private readonly epoch = randomBytes(4).toString('hex');
  private readonly entries: RecentEntries;
  private last: StreamId = ZERO_ID;
  private head: StreamId = ZERO_ID;
  private deliver?: Deliver;

  constructor(private readonly opts: HistoryOptions) {
    // Every entry the history holds, whatever its size: it is the history.
    this.entries = new RecentEntries(opts.maxLength, Infinity);
  }

  start(deliver: Deliver): Promise<void> {
    this.deliver = deliver;
    return Promise.resolve();
  }

  append(channel: string, raw: string): Promise<void> {
    const entry = { id: (this.last = nextId(this.last, Date.now())), channel, raw };
    this.entries.push(entry);
    this.trim();
    // On a later tick, as it would be coming back from Redis.
    setImmediate(() => {
      this.head = entry.id;
      this.deliver?.(entry, this.epoch);
    });
    return Promise.resolve();
  }

  ingest(channel: string, raw: string): void {
    void this.append(channel, raw);
  }

  feed(): void {}

  afterIngested(then: () => void): void {
    // Appends are delivered on the next ticks, in order: so is this.
    setImmediate(then);
  }

  position(): string | undefined {
    return this.head === ZERO_ID ? undefined : formatOffset(this.head, this.epoch);
  }

  bounds(): Promise<HistoryBounds> {
    this.trim();
    return Promise.resolve({ epoch: this.epoch, head: this.head, first: this.entries.first, oldestMs: Date.now() - this.opts.ttlSeconds * 1000 });
  }

  range(after: StreamId, upTo: StreamId, count: number): Promise<HistoryEntry[]> {
    // What is not kept here is gone: the resume's bounds check refused such an offset already.
    return Promise.resolve(this.entries.range(after, upTo, count, true)!);
  }

  stats(): Promise<HistoryStats> {
    const lagSeconds = Math.max(0, idMs(this.last) - idMs(this.head)) / 1000;
    return Promise.resolve({ length: this.entries.length, memoryBytes: this.entries.bytes, lagSeconds, leader: true });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private trim(): void {
    this.entries.dropOlderThan(Date.now() - this.opts.ttlSeconds * 1000);
  }
}
