import type { Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import { TokenBucket } from '../common/token-bucket.js';
import { compareIds, type StreamId } from '../history/offset.js';

export interface OutboxLimits {
  rate: number;
  burst: number;
  queueMax: number;
  /** Bound on the socket's unsent bytes plus the bytes waiting in the queue. */
  maxBufferedBytes: number;
}

/** One set per host, shared by its outboxes: `socket` says whose. */
export interface OutboxHooks {
  /** A frame reached the socket; `receivedAt` is when its event reached the service. */
  sent(topic: string, receivedAt: number): void;
  /** The queue length changed by `delta` (for the queued-frames gauge). */
  queued(delta: number): void;
  /** The session of `socket` cannot keep up: the owner closes it with 4008. */
  overflow(socket: WebSocket): void;
}

/**
 * A WebSocket text frame around `payload` (RFC 6455 5.2: FIN, opcode 1, unmasked as a server
 * sends it), header and payload in one Buffer: built once for every session that receives it,
 * then written as is to each socket, where `socket.send` would frame it again for each one.
 */
export function textFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x81;
  if (n < 126) frame[1] = n;
  else if (n < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(frame, head);
  return frame;
}

/**
 * ws' own frame writer, which Socket.IO uses for its pre-encoded frames (ws is pinned to an exact
 * version and test/unit/ws-internals.spec.ts checks both members): it writes bytes
 * already framed to the TCP socket, after whatever ws wrote before. Safe because the
 * sockets never use permessage-deflate (ws then queues frames while it compresses).
 */
type FrameWriter = { _sender: { sendFrame(list: Buffer[]): void }; _socket: Writable };

/** TCP sockets written in this tick, corked at their first frame, uncorked together when the tick's work is done. */
const corked: Writable[] = [];

function uncorkAll(): void {
  for (const socket of corked) socket.uncork();
  corked.length = 0;
}

/**
 * Holds what is written to `socket` until the end of the tick: the frames a burst of events
 * brings to one socket in one tick leave in one `writev`, not one write each.
 */
function corkUntilTickEnd(socket: Writable): void {
  if (socket.writableCorked) return;
  socket.cork();
  if (corked.push(socket) === 1) process.nextTick(uncorkAll);
}

interface Pending {
  /** A frame from `textFrame`. */
  data: Buffer;
  topic: string;
  receivedAt: number;
  offset?: StreamId;
}

/** The frames waiting in an Outbox, with their counts and the timer that drains them. */
class Queue {
  /**
   * A replay's frames (from `textFrame`, shared with every session that replays the same
   * events), sent before `frames`: paced like the rest, outside the queue's bounds (the
   * replay has its own), and held as bare references, not one object each.
   */
  replay: readonly Buffer[] = [];
  /** The next replay frame to send. */
  replayAt = 0;
  /** Told once the replay is all written, dropped, or the outbox closed. */
  replayDone?: () => void;
  frames: Pending[] = [];
  /** Sum of the live frames' sizes (the replay's are not counted against the bounds). */
  bytes = 0;
  timer?: NodeJS.Timeout;

  get length(): number {
    return this.replay.length - this.replayAt + this.frames.length;
  }
}

/** The replay is over (written, dropped or closed): its frames go, and whoever waited for it is told. */
function endReplay(queue: Queue): void {
  const done = queue.replayDone;
  [queue.replay, queue.replayAt, queue.replayDone] = [[], 0, undefined];
  done?.();
}

/**
 * Flow control for one session (PROTOCOL 3.6): a token bucket paces frames, the excess
 * waits in order in a bounded queue, and a queue or socket buffer past its bound means a
 * slow consumer, reported once through `overflow` instead of silently dropping frames.
 * Control frames (acks, errors, chat replies) skip the pace but count against the same
 * byte bound: a client that never reads cannot make the server buffer without end.
 * During a resume, live frames are held while the replay is read; the replay then goes
 * first, then the held frames (PROTOCOL 6).
 */
export class Outbox {
  /** Created on first use, as is the queue: an idle session holds neither. */
  private pace?: TokenBucket;
  private queue?: Queue;
  private closed = false;
  /** Live frames held back while a replay is prepared; undefined when not holding. */
  private held?: Pending[];

  constructor(
    private readonly socket: WebSocket,
    private readonly limits: OutboxLimits,
    private readonly hooks: OutboxHooks,
  ) {}

  get length(): number {
    return this.queue?.length ?? 0;
  }

  /** The bytes sent to the socket and not yet taken by the client, live frames queued included (a replay's are bounded apart); Infinity once closed. */
  get unsentBytes(): number {
    return this.closed ? Infinity : this.unsent();
  }

  private get bucket(): TokenBucket {
    return (this.pace ??= new TokenBucket(this.limits.rate, this.limits.burst));
  }

  /**
   * Sends now if the pace allows, else queues. `frame` (from `textFrame`) is shared between
   * sessions: never copied.
   */
  push(frame: Buffer, topic: string, receivedAt: number, offset?: StreamId): void {
    if (this.closed) return;
    if (this.held) {
      if (this.held.length >= this.limits.queueMax) return this.overflow();
      this.held.push({ data: frame, topic, receivedAt, offset });
      return;
    }
    // The common case, as `add` would do it without building a Pending: nothing waits, a token is free.
    if (!this.length) {
      if (this.overBound()) return this.overflow();
      if (this.bucket.take()) return this.write(frame, topic, receivedAt);
    }
    this.add({ data: frame, topic, receivedAt, offset });
  }

  /** Holds live frames back (a resume is being prepared) until `release`. */
  hold(): void {
    this.held ??= [];
  }

  /**
   * Ends the hold: `replay` (frames from `textFrame`, possibly shared) goes first, then the
   * held frames, but for those at or before `replayedUpTo` (the replay covered them).
   */
  release(replay: readonly Buffer[] = [], replayedUpTo?: StreamId, written?: () => void): void {
    const held = this.held ?? [];
    this.held = undefined;
    if (this.closed) return written?.();
    if (replay.length) {
      const queue = (this.queue ??= new Queue());
      queue.replay = replay;
      queue.replayAt = 0;
      queue.replayDone = written;
      this.hooks.queued(replay.length);
    } else written?.();
    for (const p of held) if (!(replayedUpTo && p.offset && compareIds(p.offset, replayedUpTo) <= 0)) this.add(p);
    if (replay.length) this.drain();
  }

  private add(p: Pending): void {
    if (this.closed) return;
    if (this.overBound()) return this.overflow();
    if (!this.length && this.bucket.take()) return this.write(p.data, p.topic, p.receivedAt);
    if ((this.queue?.frames.length ?? 0) >= this.limits.queueMax) return this.overflow();
    const queue = (this.queue ??= new Queue());
    queue.frames.push(p);
    queue.bytes += p.data.length;
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
    if (this.held) this.held = keepTopic === undefined ? [] : this.held.filter((p) => p.topic === keepTopic);
    const before = this.length;
    const queue = this.queue;
    if (!queue || !before) return;
    // A replay was built for the identity that is gone: it goes too.
    endReplay(queue);
    const kept = keepTopic === undefined ? [] : queue.frames.filter((p) => p.topic === keepTopic);
    queue.frames = kept;
    queue.bytes = kept.reduce((n, p) => n + p.data.length, 0);
    this.hooks.queued(kept.length - before);
  }

  /** Stops everything; the queued frames are forgotten. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.queue?.timer);
    if (this.queue) endReplay(this.queue);
    if (this.length) this.hooks.queued(-this.length);
    this.queue = undefined;
    this.held = undefined;
  }

  private drain(): void {
    if (this.queue) {
      clearTimeout(this.queue.timer);
      this.queue.timer = undefined;
    }
    while (!this.closed && this.queue?.length && this.bucket.take()) {
      if (this.overBound()) return this.overflow();
      const queue = this.queue;
      this.hooks.queued(-1);
      if (queue.replayAt < queue.replay.length) {
        const frame = queue.replay[queue.replayAt++];
        if (queue.replayAt === queue.replay.length) endReplay(queue);
        this.write(frame, 'replay', Date.now());
        continue;
      }
      const next = queue.frames.shift()!;
      queue.bytes -= next.data.length;
      this.write(next.data, next.topic, next.receivedAt);
    }
    this.schedule();
  }

  private schedule(): void {
    const queue = this.queue;
    if (this.closed || !queue || queue.timer) return;
    // Emptied: back to holding no queue.
    if (!queue.length) return void (this.queue = undefined);
    queue.timer = setTimeout(() => this.drain(), Math.max(1, this.bucket.waitMs()));
  }

  private write(frame: Buffer, topic: string, receivedAt: number): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    const ws = this.socket as unknown as FrameWriter;
    corkUntilTickEnd(ws._socket);
    ws._sender.sendFrame([frame]);
    this.hooks.sent(topic, receivedAt);
  }

  private overBound(): boolean {
    if (this.unsent() <= this.limits.maxBufferedBytes) return false;
    // What this tick's cork holds back is not the reader's doing: written out, the kernel
    // takes what a reading client makes room for, and only the rest counts.
    const tcp = (this.socket as unknown as FrameWriter)._socket;
    if (!tcp?.writableCorked) return true;
    tcp.uncork();
    return this.unsent() > this.limits.maxBufferedBytes;
  }

  /** The socket's unsent bytes plus the queue's, but for a replay's (which has its own bound). */
  private unsent(): number {
    return this.socket.bufferedAmount + (this.queue?.bytes ?? 0);
  }

  private overflow(): void {
    this.close();
    this.hooks.overflow(this.socket);
  }
}
