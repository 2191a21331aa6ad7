/**
 * Coalescing of node events per Target.Uuid (PROTOCOL.md 3.2): a burst of
 * writes on one node reaches browsers as one event. One coalescer serves both node
 * topics (tree and meta), as Cells feeds both into one batcher per node: events of one
 * node leave in the order they came, whatever topic they came on.
 */
import { Logger } from '@nestjs/common';
import type { NodeChangeEvent, TreeNode } from './node-event.js';
import type { EventOffset } from '../bus/topic.js';

const COALESCED_TYPES = new Set(['CREATE', 'UPDATE_CONTENT', 'UPDATE_META']);
const TEMPORARY_ETAG = 'temporary';

/** The node an event is about: its Target's uuid, else its Source's (a DELETE has only a Source). */
export function nodeUuid(e: NodeChangeEvent): string | undefined {
  return e.Target?.Uuid || e.Source?.Uuid || undefined;
}

/** CREATE, UPDATE_CONTENT and UPDATE_META events that name their target node. */
export function isCoalesced(e: NodeChangeEvent): boolean {
  return COALESCED_TYPES.has(e.Type) && typeof e.Target?.Uuid === 'string' && e.Target.Uuid !== '';
}

function mergeType(a: string, b: string): string {
  if (a === 'CREATE' || b === 'CREATE') return 'CREATE';
  if (a === 'UPDATE_CONTENT' || b === 'UPDATE_CONTENT') return 'UPDATE_CONTENT';
  return b;
}

function mergeTarget(first: TreeNode | undefined, next: TreeNode | undefined): TreeNode | undefined {
  if (!first) return next && { ...next };
  if (!next) return { ...first };
  const out: TreeNode = { ...first };
  if (!out.Path && next.Path) out.Path = next.Path;
  // An upload announces a 'temporary' etag before the real one: never go back to it.
  if (next.Etag && !(next.Etag === TEMPORARY_ETAG && out.Etag)) out.Etag = next.Etag;
  if (next.Type !== undefined) out.Type = next.Type;
  if (next.MTime !== undefined) out.MTime = next.MTime;
  if (next.Size !== undefined) out.Size = next.Size;
  if (first.MetaStore || next.MetaStore) out.MetaStore = { ...first.MetaStore, ...next.MetaStore };
  return out;
}

/** Both events merged into one, `next` being the later one. Neither input is modified. */
export function mergeNodeEvents(first: NodeChangeEvent, next: NodeChangeEvent): NodeChangeEvent {
  const merged: NodeChangeEvent = { Type: mergeType(first.Type, next.Type) };
  const source = first.Source ?? next.Source;
  if (source) merged.Source = { ...source };
  const target = mergeTarget(first.Target, next.Target);
  if (target) merged.Target = target;
  // The batch is silent (rate limited) or optimistic only if every event in it was.
  if (first.Silent && next.Silent) merged.Silent = true;
  if (first.Optimistic && next.Optimistic) merged.Optimistic = true;
  return merged;
}

export interface NodeCoalescerOptions {
  /** Flush this long after the last event for a node (sliding window). */
  windowMs: number;
  /** ...but never later than this after the first one. */
  maxWaitMs: number;
  /** Most nodes pending at once; the oldest is flushed early to make room. */
  maxPending: number;
  /**
   * Receives each merged event, with the topic of the event that opened its batch (the
   * frames it becomes are counted under that topic), and the offset of the LAST event merged
   * into it. Must not throw: it runs from timers.
   */
  flush: (e: NodeChangeEvent, topic: string, offset?: EventOffset) => void;
  /** Called once per event merged into an existing batch (for metrics). */
  onMerged?: () => void;
}

interface Pending {
  event: NodeChangeEvent;
  topic: string;
  offset?: EventOffset;
  firstAt: number;
  timer: ReturnType<typeof setTimeout>;
}

export class NodeCoalescer {
  /** Insertion order is first-arrival order, so the first key is the oldest batch. */
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly opts: NodeCoalescerOptions) {}

  get size(): number {
    return this.pending.size;
  }

  /**
   * Coalesces `e`, or hands it over at once when it is not coalesced; in that case a batch
   * pending for the same node goes first, so that the node's events keep their order.
   */
  add(e: NodeChangeEvent, topic = '', offset?: EventOffset): void {
    if (!isCoalesced(e)) {
      const uuid = nodeUuid(e);
      if (uuid !== undefined) this.flushOne(uuid);
      this.opts.flush(e, topic, offset);
      return;
    }
    const uuid = e.Target!.Uuid!;
    const now = Date.now();
    const current = this.pending.get(uuid);
    if (current) {
      clearTimeout(current.timer);
      current.event = mergeNodeEvents(current.event, e);
      current.offset = offset;
      current.timer = this.schedule(uuid, Math.min(this.opts.windowMs, current.firstAt + this.opts.maxWaitMs - now));
      this.opts.onMerged?.();
      return;
    }
    while (this.pending.size > 0 && this.pending.size >= this.opts.maxPending) {
      this.flushOne(this.pending.keys().next().value!);
    }
    const delay = Math.min(this.opts.windowMs, this.opts.maxWaitMs);
    this.pending.set(uuid, { event: e, topic, offset, firstAt: now, timer: this.schedule(uuid, delay) });
  }

  /** Flushes every pending batch now (shutdown). */
  flushAll(): void {
    for (const uuid of [...this.pending.keys()]) this.flushOne(uuid);
  }

  private schedule(uuid: string, delayMs: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      // A throw from a timer would end the process: this batch is lost, nothing else.
      try {
        this.flushOne(uuid);
      } catch (err) {
        new Logger(NodeCoalescer.name).error(`batch flush failed: ${(err as Error)?.stack}`);
      }
    }, Math.max(0, delayMs));
    // Pending batches must not keep the process alive.
    timer.unref?.();
    return timer;
  }

  private flushOne(uuid: string): void {
    const p = this.pending.get(uuid);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(uuid);
    this.opts.flush(p.event, p.topic, p.offset);
  }
}
