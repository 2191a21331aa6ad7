/**
 * Live coalescing (rt-coreExtension-websocket's normalization; PROTOCOL 3.2 for node
 * events): events of one key that follow each other closely leave as one, merged by their
 * topic, carrying the offset of the last one merged. Events of one key keep their order,
 * whatever topic they came on: an event that does not merge but must follow a pending merge
 * (a node's DELETE after its updates) sends that merge out first.
 */
import { Logger } from '@nestjs/common';
import type { EventOffset, TopicHandler } from './topic.js';

export interface Merged {
  handler: TopicHandler;
  event: unknown;
  offset?: EventOffset;
}

export interface CoalescerOptions {
  /** Most keys pending at once; the oldest goes out early to make room. */
  maxPending: number;
  /** Receives each merged event. Must not throw: it runs from timers. */
  flush: (merged: Merged) => void;
  /** Called once per event merged into a pending one (metrics). */
  onMerged?: (handler: TopicHandler) => void;
}

interface Pending extends Merged {
  firstAt: number;
  windowMs: number;
  maxWaitMs: number;
  timer: ReturnType<typeof setTimeout>;
}

export class Coalescer {
  private readonly log = new Logger(Coalescer.name);
  /** Insertion order is first-arrival order, so the first key is the oldest. */
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly opts: CoalescerOptions) {}

  get size(): number {
    return this.pending.size;
  }

  /** Merges `event` into the pending event of `key`, or opens one. */
  add(key: string, handler: TopicHandler, event: unknown, offset?: EventOffset): void {
    const now = Date.now();
    const current = this.pending.get(key);
    if (current) {
      clearTimeout(current.timer);
      current.event = handler.coalesce!.merge(current.event, event);
      current.offset = offset;
      current.timer = this.schedule(key, Math.min(current.windowMs, current.firstAt + current.maxWaitMs - now));
      this.opts.onMerged?.(handler);
      return;
    }
    while (this.pending.size > 0 && this.pending.size >= this.opts.maxPending) this.flush(this.pending.keys().next().value!);
    const { windowMs, maxWaitMs } = handler.coalesce!.window(event);
    const timer = this.schedule(key, Math.min(windowMs, maxWaitMs));
    this.pending.set(key, { handler, event, offset, firstAt: now, windowMs, maxWaitMs, timer });
  }

  /** Sends the pending event of `key` now, if any. */
  flush(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(key);
    this.opts.flush(p);
  }

  /** Sends everything pending now (shutdown). */
  flushAll(): void {
    for (const key of [...this.pending.keys()]) this.flush(key);
  }

  private schedule(key: string, delayMs: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      // A throw from a timer would end the process: this event is lost, nothing else.
      try {
        this.flush(key);
      } catch (err) {
        this.log.error(`coalesced flush failed: ${(err as Error)?.stack}`);
      }
    }, Math.max(0, delayMs));
    // Pending merges must not keep the process alive.
    timer.unref?.();
    return timer;
  }
}
