import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { Workspace } from '../auth/identity.js';
import { Revocations } from '../auth/revocations.js';
import { TokenBucket } from '../common/token-bucket.js';
import { CONFIG, type Config } from '../config/config.js';
import { ChatGateway } from '../gateways/chat.gateway.js';
import { EventsGateway } from '../gateways/events.gateway.js';
import { Metrics } from '../ops/metrics.js';
import { Fanout } from '../sessions/fanout.js';
import type { Session } from '../sessions/session.js';
import { Close } from '../sessions/session-host.js';
import { parseActivityEvent, activityAudience } from './activity-event.js';
import { parseIdmEvent, idmAudience, idmSideEffect } from './idm-event.js';
import { NodeCoalescer } from './node-coalescer.js';
import { nodeFrame, parseNodeEvent, policiesAllowRead, userMetaPolicies, type NodeChangeEvent } from './node-event.js';
import { nodeUuid } from './node-coalescer.js';
import { LocatingQueue, NodeLocator, needsLookup, withPath } from './node-locator.js';
import { parseTaskEvent, taskAudience, type Audience } from './task-event.js';
import { TopicRouter, withOffset, type Delivery } from './topic-router.js';

const DELIVERED_TYPES = new Set(['CREATE', 'UPDATE_PATH', 'UPDATE_CONTENT', 'UPDATE_META', 'UPDATE_USER_META', 'DELETE']);

/**
 * The five event topics of `/ws` (PROTOCOL 3.2 to 3.5): each route parses its payload,
 * asks its pure audience function who may see it, and hands one serialized frame per
 * distinct audience to the fan-out. Each frame carries the `@offset` of its event (a
 * coalesced one: of the last event merged into it). A replay (PROTOCOL 6) runs the same
 * rules for one session (`Delivery.replay`), without coalescing and without side effects.
 */
@Injectable()
export class EventTopics implements OnModuleDestroy {
  private readonly log = new Logger(EventTopics.name);
  private readonly silent: TokenBucket;
  /** One for both node topics, so that a node's events keep their order across them (PROTOCOL 3.2). */
  private readonly coalescer: NodeCoalescer;
  private readonly locator: NodeLocator;
  private readonly locating: LocatingQueue;
  private warnedNoLookup = false;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly gateway: EventsGateway,
    private readonly chatGateway: ChatGateway,
    private readonly fanout: Fanout,
    private readonly metrics: Metrics,
    private readonly revocations: Revocations,
    router: TopicRouter,
  ) {
    this.silent = new TokenBucket(config.limits.silentRate, config.limits.silentBurst);
    this.locator = new NodeLocator({ url: config.nodeLookupUrl });
    this.locating = new LocatingQueue({
      locator: this.locator,
      deliver: (e, topic, offset) => this.deliverNode(topic, e, { offset }),
      drop: (topic, reason) => this.dropUnlocated(topic, reason),
    });
    this.coalescer = new NodeCoalescer({
      windowMs: config.nodeBatchWindowMs,
      maxWaitMs: config.nodeBatchMaxWaitMs,
      maxPending: config.limits.maxPendingNodes,
      flush: (e, topic, offset) => this.locating.push(e, topic, offset),
      onMerged: () => this.metrics.eventsCoalesced.inc(),
    });
    const { channels } = config;
    this.nodeRoute(router, channels.tree, 'tree');
    this.nodeRoute(router, channels.meta, 'meta');
    this.keyedRoute(router, channels.tasks, 'tasks', parseTaskEvent, taskAudience);
    this.keyedRoute(router, channels.activity, 'activity', parseActivityEvent, activityAudience);
    router.register(channels.idm, {
      topic: 'idm',
      parse: parseIdmEvent,
      handle: (e, delivery) => {
        this.deliverKeyed('idm', idmAudience(e), delivery);
        if (delivery.replay) return;
        const effect = idmSideEffect(e);
        // After the idm frame has been handed over, so that the session sees why; on both
        // endpoints, so that a deleted user keeps no chat session either.
        const hosts = [this.gateway.host, this.chatGateway.host];
        if (effect && 'removeWorkspace' in effect) {
          this.fanout.after(() => hosts.forEach((h) => h.registry.removeWorkspace(effect.removeWorkspace)));
        }
        if (effect && 'closeUser' in effect) {
          const { login, subject } = effect.closeUser;
          // Before the sockets close: the client reconnects at once, to any instance.
          this.revocations.revoke(effect.closeUser);
          const keys = [login && `user:${login}`, subject && `subject:${subject}`].filter((k): k is string => Boolean(k));
          this.fanout.after(() => {
            for (const host of hosts) for (const s of [...host.registry.withKeys(keys)]) host.close(s, Close.forbidden, 'user removed');
          });
        }
      },
    });
  }

  /** Shutdown: pending batches go out before the sockets are closed. */
  onModuleDestroy(): void {
    this.coalescer.flushAll();
  }

  /** Every session of this instance, or the one resuming session of a replay. */
  private registry(delivery: Delivery) {
    return delivery.replay?.registry ?? this.gateway.host.registry;
  }

  /** One serialized frame to its sessions: through the fan-out, or into the replay. */
  private send(delivery: Delivery, sessions: Iterable<Session>, data: string, topic: string, receivedAt?: number): void {
    const { replay } = delivery;
    if (!replay) return this.fanout.send(sessions, data, topic, receivedAt, delivery.offset?.id);
    for (const s of sessions) if (s === replay.session) return void replay.frames.push({ data, topic });
  }

  private keyedRoute<T>(router: TopicRouter, channel: string, topic: string, parse: (raw: unknown) => T, audience: (e: T) => Audience): void {
    router.register(channel, { topic, parse, handle: (e, delivery) => this.deliverKeyed(topic, audience(e), delivery) });
  }

  private deliverKeyed(topic: string, { keys, frame }: Audience, delivery: Delivery): void {
    const sessions = keys.length ? this.registry(delivery).withKeys(keys) : [];
    this.send(delivery, sessions, JSON.stringify(withOffset(frame, delivery.offset)), topic);
  }

  /**
   * Both node topics go through the one coalescer (which hands a node's uncoalesced events
   * over only after its pending batch), then through the locating queue (which holds a
   * node's later events while an earlier one is looked up by uuid).
   */
  private nodeRoute(router: TopicRouter, channel: string, topic: string): void {
    router.register(channel, {
      topic,
      parse: parseNodeEvent,
      handle: (e, delivery) => {
        if (delivery.replay) return DELIVERED_TYPES.has(e.Type) ? this.replayNode(topic, e, delivery) : undefined;
        if (!DELIVERED_TYPES.has(e.Type)) return this.metrics.eventsDropped.inc({ topic, reason: e.Type === 'READ' ? 'read' : 'unknown_type' });
        if (e.Silent && !this.silent.take()) return this.metrics.eventsDropped.inc({ topic, reason: 'silent_limit' });
        this.coalescer.add(e, topic, delivery.offset);
      },
    });
  }

  /** A node event replayed to one session: uncoalesced, located first when it has no path. */
  private async replayNode(topic: string, e: NodeChangeEvent, delivery: Delivery): Promise<void> {
    if (needsLookup(e)) {
      const uuid = nodeUuid(e);
      const path = uuid === undefined ? undefined : await this.locator.locate(uuid);
      if (path === undefined) return;
      e = withPath(e, path);
    }
    this.deliverNode(topic, e, delivery);
  }

  private dropUnlocated(topic: string, reason: string): void {
    this.metrics.eventsDropped.inc({ topic, reason });
    if (reason === 'no_path' && !this.warnedNoLookup) {
      this.warnedNoLookup = true;
      this.log.warn('node events without a path (e.g. comment counts of NODE chat rooms) are dropped: set NODE_LOOKUP_URL to locate them');
    }
  }

  /**
   * One frame per (session, visible workspace). Candidates come from the root index (an
   * ancestor walk of each side's path, outer roots first), never from a scan of all
   * sessions; frames that are identical for many sessions (same workspace, same roots) are
   * serialized once.
   */
  private deliverNode(topic: string, e: NodeChangeEvent, delivery: Delivery): void {
    const receivedAt = Date.now();
    const policies = e.Type === 'UPDATE_USER_META' ? userMetaPolicies(e) : undefined;
    if (e.Type === 'UPDATE_USER_META') {
      if (!policies) return this.metrics.eventsDropped.inc({ topic, reason: 'no_policies' });
      // As Cells does: the Source only carries the policies and the previous values.
      const { Source: _previous, ...rest } = e;
      e = rest;
    }
    // Workspace objects belong to one session's identity, so they key (session, workspace).
    const seen = new Map<Workspace, { session: Session; target?: string; source?: string }>();
    for (const side of ['target', 'source'] as const) {
      const path = side === 'target' ? e.Target?.Path : e.Source?.Path;
      for (const { session, workspace, root } of this.registry(delivery).rootHolders(path)) {
        let hit = seen.get(workspace);
        if (!hit) seen.set(workspace, (hit = { session }));
        hit[side] ??= root; // the first is the outermost root (PROTOCOL 3.2 rewrite)
      }
    }
    const frames = new Map<string, { data: string | null; sessions: Session[] }>();
    for (const [ws, { session, target, source }] of seen) {
      if (Array.isArray(policies) && !policiesAllowRead(policies, session.identity!.subjects)) continue;
      const key = `${ws.uuid}\n${ws.slug}\n${target ?? ''}\n${source ?? ''}`;
      let frame = frames.get(key);
      if (!frame) {
        const built = nodeFrame(e, ws, target, source);
        frames.set(key, (frame = { data: built && JSON.stringify(withOffset(built, delivery.offset)), sessions: [] }));
      }
      if (frame.data !== null) frame.sessions.push(session);
    }
    for (const { data, sessions } of frames.values()) if (data !== null) this.send(delivery, sessions, data, topic, receivedAt);
  }
}
