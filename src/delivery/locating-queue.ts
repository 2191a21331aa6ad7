/**
 * Lookups before routing without reordering (PROTOCOL 3.2: pathless node events, located by
 * uuid): while an event is being looked up, the later events of the same order key wait
 * behind it (bounded); other keys are not held up.
 */
import type { EventOffset, TopicHandler } from './topic.js';

interface Waiting {
  handler: TopicHandler;
  event: unknown;
  offset?: EventOffset;
}

export interface LocatingQueueOptions {
  /** Receives events in order, located. Must not throw. */
  deliver: (handler: TopicHandler, event: unknown, offset?: EventOffset) => void;
  /** An event dropped: `no_path` (lookups off), `lookup_failed`, `lookup_busy`, `error` (deliver threw). */
  drop: (handler: TopicHandler, reason: string) => void;
  /** Lookups under way at once. */
  maxLookups?: number;
  /** Events of one key waiting behind its lookup. */
  maxWaiting?: number;
}

export class LocatingQueue {
  private readonly waiting = new Map<string, Waiting[]>();
  private readonly maxLookups: number;
  private readonly maxWaiting: number;

  constructor(private readonly opts: LocatingQueueOptions) {
    this.maxLookups = opts.maxLookups ?? 1000;
    this.maxWaiting = opts.maxWaiting ?? 100;
  }

  push(handler: TopicHandler, event: unknown, offset?: EventOffset): void {
    const locate = handler.locate!;
    const order = locate.orderKey(event);
    const queue = order === undefined ? undefined : this.waiting.get(order);
    if (queue) {
      if (queue.length >= this.maxWaiting) return this.opts.drop(handler, 'lookup_busy');
      queue.push({ handler, event, offset });
      return;
    }
    const key = locate.needs(event);
    if (key === undefined) {
      // In order, so that a move seen while a lookup was under way still wins.
      locate.observe?.(event);
      return this.opts.deliver(handler, event, offset);
    }
    if (order === undefined || !locate.enabled) return this.opts.drop(handler, 'no_path');
    const cached = locate.cached(key);
    if (cached !== undefined) return this.opts.deliver(handler, locate.apply(event, cached), offset);
    if (this.waiting.size >= this.maxLookups) return this.opts.drop(handler, 'lookup_busy');
    this.waiting.set(order, []);
    void locate.lookup(key).then((value) => {
      const later = this.waiting.get(order) ?? [];
      this.waiting.delete(order);
      // From a promise: a throw here would be an unhandled rejection, and strand `later`.
      try {
        if (value === undefined) this.opts.drop(handler, 'lookup_failed');
        else this.opts.deliver(handler, locate.apply(event, value), offset);
      } catch {
        this.opts.drop(handler, 'error');
      }
      for (const next of later) {
        try {
          this.push(next.handler, next.event, next.offset);
        } catch {
          this.opts.drop(next.handler, 'error');
        }
      }
    });
  }
}
