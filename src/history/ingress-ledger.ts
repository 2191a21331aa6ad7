import { compareIds, ZERO_ID, type StreamId } from './offset.js';

/** A pub/sub message not yet seen in the stream. */
export interface PendingMessage {
  channel: string;
  raw: string;
  at: number;
  /** This instance already tried to append it (as the lease holder). */
  appended: boolean;
  /** Order of receipt. */
  seq: number;
}

export interface IngressLedgerOptions {
  /** How long a message waits to be seen in the stream before it counts as lost. */
  windowMs: number;
  /** Most messages (pending and seen-unmatched, each) kept. */
  max: number;
  /** Most bytes of payload (pending and seen-unmatched, each) kept; beyond, the oldest go. */
  maxBytes?: number;
  now?: () => number;
}

/**
 * Exactly-once ingress of plain pub/sub, as seen by one instance. Every instance receives
 * every message on pub/sub AND reads every stream entry; the ledger matches the two (same
 * channel, same bytes: a multiset, so that two identical messages count twice). A message
 * received but not (yet) in the stream is pending: the lease holder appends it; whoever
 * takes the lease over appends what is still pending once it has read the stream to its
 * head. An entry seen before its pub/sub copy arrives (the two come on different
 * connections) is remembered for the window, so that the late copy is not taken for new.
 */
export class IngressLedger {
  private readonly pending: PendingMessage[] = [];
  /** key -> times (ms) it was seen in the stream with no pending message to match. */
  private readonly seen = new Map<string, number[]>();
  private seenCount = 0;
  private pendingBytes = 0;
  private seenBytes = 0;
  /** Pending messages pushed out by the bounds since the last expire(). */
  private evicted = 0;
  private readonly maxBytes: number;
  private observedUpTo: StreamId = ZERO_ID;
  /** Sequence number of the last message received. */
  lastSeq = 0;
  private readonly now: () => number;

  constructor(private readonly opts: IngressLedgerOptions) {
    this.now = opts.now ?? Date.now;
    this.maxBytes = opts.maxBytes ?? 32 * 1024 * 1024;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** A pub/sub message: the pending record when it is new, undefined when the stream already had it. */
  received(channel: string, raw: string): PendingMessage | undefined {
    // Hashing a large payload costs: skipped in the usual case (nothing seen unmatched).
    const key = this.seen.size ? keyOf(channel, raw) : '';
    const times = this.seen.size ? this.seen.get(key) : undefined;
    if (times?.length) {
      times.shift();
      this.seenCount--;
      if (!times.length) this.forget(key);
      return undefined;
    }
    const message = { channel, raw, at: this.now(), appended: false, seq: ++this.lastSeq };
    this.pending.push(message);
    this.pendingBytes += raw.length;
    // Bounded at once, not at the next expire(): a flood of large payloads must not pile up.
    while (this.pending.length > 1 && (this.pendingBytes > this.maxBytes || this.pending.length > this.opts.max)) {
      this.pendingBytes -= this.pending.shift()!.raw.length;
      this.evicted++;
    }
    return message;
  }

  /**
   * A stream entry, in stream order; an id at or before one already observed is ignored (the
   * reader and a takeover's catch-up may both pass it).
   */
  observed(id: StreamId, channel: string, raw: string): void {
    if (compareIds(id, this.observedUpTo) <= 0) return;
    this.observedUpTo = id;
    const i = this.pending.findIndex((p) => p.channel === channel && p.raw === raw);
    if (i >= 0) {
      this.pendingBytes -= this.pending[i].raw.length;
      this.pending.splice(i, 1);
      return;
    }
    const key = keyOf(channel, raw);
    const times = this.seen.get(key);
    if (times) times.push(this.now());
    else {
      this.seen.set(key, [this.now()]);
      this.seenBytes += key.length;
    }
    this.seenCount++;
    // The oldest keys go first (Map order is insertion order).
    for (const [old, list] of this.seen) {
      if (this.seenCount <= this.opts.max && this.seenBytes <= this.maxBytes) break;
      this.seenCount -= list.length;
      this.forget(old);
    }
  }

  private forget(key: string): void {
    if (this.seen.delete(key)) this.seenBytes -= key.length;
  }

  /** Forgets what is older than the window, and the oldest past `max`; returns how many pending messages went (lost). */
  expire(): number {
    const limit = this.now() - this.opts.windowMs;
    let lost = this.evicted;
    this.evicted = 0;
    while (this.pending.length && this.pending[0].at < limit) {
      this.pendingBytes -= this.pending.shift()!.raw.length;
      lost++;
    }
    for (const [key, times] of this.seen) {
      while (times.length && times[0] < limit) {
        times.shift();
        this.seenCount--;
      }
      if (!times.length) this.forget(key);
    }
    return lost;
  }

  /** True when no message received up to `seq` is still waiting to be seen in the stream. */
  settled(seq: number): boolean {
    return !this.pending.length || this.pending[0].seq > seq;
  }

  /** The last stream entry observed. */
  get upTo(): StreamId {
    return this.observedUpTo;
  }

  /** Entries up to `id` were appended before this instance started: not to be matched. */
  skipTo(id: StreamId): void {
    if (compareIds(id, this.observedUpTo) > 0) this.observedUpTo = id;
  }

  /** Pending messages, oldest first (a takeover appends them all). */
  all(): readonly PendingMessage[] {
    return this.pending;
  }
}

function keyOf(channel: string, raw: string): string {
  return `${channel}\n${raw}`;
}
