import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { TokenBucket } from '../common/token-bucket.js';
import { CONFIG, type Config } from '../config/config.js';
import type { HistoryEntry } from '../history/history.js';
import { formatOffset } from '../history/offset.js';
import { Metrics } from '../metrics/metrics.js';
import { ChatSessions, EventSessions } from '../sessions/endpoints.js';
import { Fanout } from '../sessions/fanout.js';
import { textFrame } from '../sessions/outbox.js';
import { frameGroups, type AudienceView } from './audience.js';
import { Coalescer } from './coalescer.js';
import { LocatingQueue } from './locating-queue.js';
import type { EventOffset, Route, TopicHandler } from './topic.js';
import { TopicRegistry } from './topic-registry.js';

/**
 * A frame of a replay; `latest`: the key whose last frame alone is sent (a coalesced latest
 * value); `fresh`: built by this replay (others were built before and are shared: their bytes
 * are already held).
 */
export interface ReplayFrame {
  frame: Buffer;
  latest?: string;
  fresh: boolean;
}

/** Lookups of one replay page under way at once. */
const REPLAY_LOOKUPS = 16;

/**
 * What is derived from one history entry, once, whoever asks: the parsed event, the event
 * once looked up (null: the lookup failed), its route, its frames by audience group. Kept
 * as long as the entry object is (the history keeps the newest in memory): a thousand
 * replays of the same entries parse, route and serialize them once.
 */
interface Derived {
  handler: TopicHandler;
  event: unknown;
  epoch: string;
  offset: string;
  located?: unknown;
  route?: Route;
  frames?: Map<string, Buffer>;
}

/**
 * The one path from an event to sessions, live or replayed (PROTOCOL 3 and 6). Live: the
 * Silent limiter, coalescing, lookups, then the topic's route resolved against the endpoint's
 * registry, the frames to the fan-out, and the route's effects once they are handed over.
 * Replay: the same route resolved against the resuming session alone, as it is now; no
 * limiter, no coalescing, no effects.
 */
@Injectable()
export class DeliveryService implements OnModuleDestroy {
  private readonly log = new Logger(DeliveryService.name);
  private readonly silent: TokenBucket;
  private readonly coalescer: Coalescer;
  private readonly locating: LocatingQueue;
  /** null: the entry's payload is not deliverable (refused when it was first read). */
  private readonly derived = new WeakMap<HistoryEntry, Derived | null>();
  private readonly logged = new Set<string>();

  constructor(
    @Inject(CONFIG) config: Config,
    private readonly topics: TopicRegistry,
    private readonly events: EventSessions,
    private readonly chat: ChatSessions,
    private readonly fanout: Fanout,
    private readonly metrics: Metrics,
  ) {
    this.silent = new TokenBucket(config.limits.silentRate, config.limits.silentBurst);
    this.coalescer = new Coalescer({
      maxPending: config.limits.maxPendingNodes,
      flush: ({ handler, event, offset }) => this.located(handler, event, offset),
      onMerged: (handler) => this.metrics.eventsCoalesced.inc({ topic: handler.topic }),
    });
    this.locating = new LocatingQueue({
      deliver: (handler, event, offset) => this.send(handler, event, offset),
      drop: (handler, reason) => this.dropped(handler, reason),
    });
  }

  /** Shutdown: what is pending coalescing goes out before the sockets are closed. */
  onModuleDestroy(): void {
    this.coalescer.flushAll();
  }

  /**
   * A history entry, live, in stream order. What it is parsed into is not kept: the history
   * keeps the entry for replays, and a replay derives what it needs once for all of them.
   */
  live(entry: HistoryEntry, epoch: string): void {
    const handler = this.topics.get(entry.channel);
    const parsed = handler && this.topics.take(entry.channel, entry.raw);
    if (!handler || !parsed) return;
    this.metrics.busEvents.inc({ topic: handler.topic });
    this.accept(handler, parsed.value, { id: entry.id, text: formatOffset(entry.id, epoch) });
  }

  /** An event of a channel outside the history (chat), already parsed: delivered at once, without an offset. */
  direct(channel: string, event: unknown): void {
    const handler = this.topics.get(channel);
    if (!handler) return;
    this.metrics.busEvents.inc({ topic: handler.topic });
    this.accept(handler, event, undefined);
  }

  /**
   * The frames of history entries for one session (a page of its replay), in order, or
   * undefined when the lookups they need did not finish by `deadline`. Frames come from
   * `textFrame` and are shared with every session that replays the same entry to the same
   * audience group. A frame of a topic that replays latest values carries its coalescing key:
   * the replay keeps the last frame of each key.
   */
  async replay(entries: readonly HistoryEntry[], view: AudienceView, epoch: string, deadline: number): Promise<ReplayFrame[] | undefined> {
    const page = entries.map((e) => this.derive(e, epoch)).filter((d): d is Derived => d !== null);
    if (!(await this.locateAll(page, deadline))) return undefined;
    const out: ReplayFrame[] = [];
    for (const d of page) {
      if (d.located === null) continue;
      const route = (d.route ??= d.handler.route(d.located));
      if ('drop' in route || route.replay === false) continue;
      const { coalesce } = d.handler;
      const latest = coalesce?.replayLatest ? coalesce.key(d.located) : undefined;
      for (const group of frameGroups(route, view, d.offset)) {
        const frames = (d.frames ??= new Map());
        let frame = frames.get(group.key);
        const fresh = !frame;
        if (!frame) frames.set(group.key, (frame = textFrame(Buffer.from(group.data()))));
        out.push({ frame, latest, fresh });
      }
    }
    return out;
  }

  /** A refusal is not counted again: it was when the entry was delivered live. */
  private derive(entry: HistoryEntry, epoch: string): Derived | null {
    let d = this.derived.get(entry);
    // An entry kept across an epoch change (only the epoch key was lost) gets offsets of the new one.
    if (d === undefined || (d && d.epoch !== epoch)) {
      const handler = this.topics.get(entry.channel);
      const parsed = handler && this.topics.take(entry.channel, entry.raw, false);
      d = handler && parsed ? { handler, event: parsed.value, epoch, offset: formatOffset(entry.id, epoch) } : null;
      this.derived.set(entry, d);
    }
    return d;
  }

  /**
   * Looks up what the page's events need, together: each key once, a few at a time, all
   * within the deadline. An event whose lookup fails is left out, as live delivery drops it.
   */
  private async locateAll(page: Derived[], deadline: number): Promise<boolean> {
    const wanted = new Map<string, Derived[]>();
    for (const d of page) {
      if (d.located !== undefined) continue;
      const locate = d.handler.locate;
      const key = locate?.needs(d.event);
      if (!locate || key === undefined) d.located = d.event;
      else if (!locate.enabled) d.located = null;
      else {
        const cached = locate.cached(key);
        if (cached !== undefined) d.located = locate.apply(d.event, cached);
        else wanted.set(key, [...(wanted.get(key) ?? []), d]);
      }
    }
    if (!wanted.size) return true;
    const keys = [...wanted.keys()];
    const worker = async () => {
      for (let key = keys.shift(); key !== undefined; key = keys.shift()) {
        const list = wanted.get(key)!;
        const value = await list[0].handler.locate!.lookup(key);
        for (const d of list) d.located = value === undefined ? null : d.handler.locate!.apply(d.event, value);
      }
    };
    const workers = Promise.all(Array.from({ length: Math.min(REPLAY_LOOKUPS, keys.length) }, worker));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
    try {
      return await Promise.race([workers.then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private accept(handler: TopicHandler, event: unknown, offset: EventOffset | undefined): void {
    if (handler.limited?.(event) && !this.silent.take()) return this.dropped(handler, 'silent_limit');
    const coalesce = handler.coalesce;
    if (coalesce) {
      const key = coalesce.key(event);
      if (key !== undefined) return this.coalescer.add(key, handler, event, offset);
      const after = coalesce.after?.(event);
      if (after !== undefined) this.coalescer.flush(after);
    }
    this.located(handler, event, offset);
  }

  private located(handler: TopicHandler, event: unknown, offset: EventOffset | undefined): void {
    if (handler.locate) this.locating.push(handler, event, offset);
    else this.send(handler, event, offset);
  }

  private send(handler: TopicHandler, event: unknown, offset: EventOffset | undefined): void {
    const route = handler.route(event);
    if ('drop' in route) return this.dropped(handler, route.drop);
    const receivedAt = Date.now();
    const view = handler.endpoint === 'chat' ? this.chat.registry : this.events.registry;
    for (const group of frameGroups(route, view, offset?.text)) this.fanout.send(group.sessions, group.data(), handler.topic, receivedAt, offset?.id);
    const { effects } = route;
    if (!effects?.length || !handler.apply) return;
    this.fanout.after(() => {
      for (const effect of effects) handler.apply!(effect);
    });
  }

  private dropped(handler: TopicHandler, reason: string): void {
    this.metrics.eventsDropped.inc({ topic: handler.topic, reason });
    const key = `${handler.topic} ${reason}`;
    if (this.logged.has(key)) return;
    this.logged.add(key);
    if (reason === 'no_path') this.log.warn('node events without a path (e.g. comment counts of NODE chat rooms) are dropped: set NODE_LOOKUP_URL to locate them');
    else this.log.log({ msg: 'events dropped (logged once per topic and reason; see switchboard_events_dropped_total)', topic: handler.topic, reason });
  }
}
