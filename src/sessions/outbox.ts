import type { WebSocket } from 'ws';
import { TokenBucket } from '../common/token-bucket.js';

export interface OutboxLimits {
  rate: number;
  burst: number;
  queueMax: number;
  /** Bound on the socket's unsent bytes plus the bytes waiting in the queue. */
  maxBufferedBytes: number;
}

export interface OutboxHooks {
  /** A frame reached the socket; `receivedAt` is when its event reached the service. */
  sent(topic: string, receivedAt: number): void;
  /** The queue length changed by `delta` (for the queued-frames gauge). */
  queued(delta: number): void;
  /** The session cannot keep up: the owner closes it with 4008. */
  overflow(): void;
}

/** Frames are UTF-8 text, shared as one Buffer by every session that receives them. */
const TEXT = { binary: false } as const;

interface Pending {
  data: Buffer;
  topic: string;
  receivedAt: number;
}

/**
 * Flow control for one session (PROTOCOL 3.6): a token bucket paces frames, the excess
 * waits in order in a bounded queue, and a queue or socket buffer past its bound means a
 * slow consumer, reported once through `overflow` instead of silently dropping frames.
 * Control frames (acks, errors, chat replies) skip the pace but count against the same
 * byte bound: a client that never reads cannot make the server buffer without end.
 */
export class Outbox {
  private readonly bucket: TokenBucket;
  private readonly queue: Pending[] = [];
  /** Sum of the queued frames' sizes. */
  private queuedBytes = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly socket: WebSocket,
    private readonly limits: OutboxLimits,
    private readonly hooks: OutboxHooks,
  ) {
    this.bucket = new TokenBucket(limits.rate, limits.burst);
  }

  get length(): number {
    return this.queue.length;
  }

  /** Sends now if the pace allows, else queues. `data` is shared between sessions: never copied. */
  push(data: Buffer, topic: string, receivedAt: number): void {
    if (this.closed) return;
    if (this.overBound()) return this.overflow();
    if (this.queue.length === 0 && this.bucket.take()) return this.write(data, topic, receivedAt);
    if (this.queue.length >= this.limits.queueMax) return this.overflow();
    this.queue.push({ data, topic, receivedAt });
    this.queuedBytes += data.length;
    this.hooks.queued(1);
    this.schedule();
  }

  /** Sends a control frame now, ahead of the queue and outside the pace, but within the byte bound. */
  control(text: string): void {
    if (this.closed) return;
    if (this.overBound()) return this.overflow();
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(text);
  }

  /**
   * Forgets the queued frames (an identity change); frames of `keepTopic` stay, in order.
   * The session stays open.
   */
  drop(keepTopic?: string): void {
    const before = this.queue.length;
    if (!before) return;
    const kept = keepTopic === undefined ? [] : this.queue.filter((p) => p.topic === keepTopic);
    this.queue.length = 0;
    this.queue.push(...kept);
    this.queuedBytes = kept.reduce((n, p) => n + p.data.length, 0);
    this.hooks.queued(kept.length - before);
  }

  /** Stops everything; the queued frames are forgotten. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    if (this.queue.length) this.hooks.queued(-this.queue.length);
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  private drain = (): void => {
    this.timer = undefined;
    while (!this.closed && this.queue.length && this.bucket.take()) {
      if (this.overBound()) return this.overflow();
      const next = this.queue.shift()!;
      this.queuedBytes -= next.data.length;
      this.hooks.queued(-1);
      this.write(next.data, next.topic, next.receivedAt);
    }
    this.schedule();
  };

  private schedule(): void {
    if (this.closed || this.timer || !this.queue.length) return;
    this.timer = setTimeout(this.drain, Math.max(1, this.bucket.waitMs()));
  }

  private write(data: Buffer, topic: string, receivedAt: number): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(data, TEXT);
    this.hooks.sent(topic, receivedAt);
  }

  private overBound(): boolean {
    return this.socket.bufferedAmount + this.queuedBytes > this.limits.maxBufferedBytes;
  }

  private overflow(): void {
    this.close();
    this.hooks.overflow();
  }
}
