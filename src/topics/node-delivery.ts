import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { Workspace } from '../auth/identity.js';
import { withOffset, type Delivery } from '../bus/topic.js';
import { TokenBucket } from '../common/token-bucket.js';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../ops/metrics.js';
import type { Session } from '../sessions/session.js';
import { NodeCoalescer, nodeUuid } from './node-coalescer.js';
import { nodeFrame, policiesAllowRead, userMetaPolicies, type NodeChangeEvent } from './node-event.js';
import { LocatingQueue, NodeLocator, needsLookup, withPath } from './node-locator.js';
import { TopicDelivery } from './topic-delivery.js';

const DELIVERED_TYPES = new Set(['CREATE', 'UPDATE_PATH', 'UPDATE_CONTENT', 'UPDATE_META', 'UPDATE_USER_META', 'DELETE']);

/**
 * The delivery of node events (PROTOCOL 3.2), shared by the tree and meta topics: one
 * coalescer for both, so that a node's events keep their order across them. A node's events
 * go through the coalescer (which hands a node's uncoalesced events over only after its
 * pending batch), then the locating queue (which holds a node's later events while an
 * earlier one is looked up by uuid), then out to one frame per (session, visible workspace).
 * A replay runs the same rules for one session, without coalescing.
 */
@Injectable()
export class NodeDelivery implements OnModuleDestroy {
  private readonly log = new Logger(NodeDelivery.name);
  private readonly silent: TokenBucket;
  private readonly coalescer: NodeCoalescer;
  private readonly locator: NodeLocator;
  private readonly locating: LocatingQueue;
  private warnedNoLookup = false;

  constructor(
    @Inject(CONFIG) config: Config,
    private readonly out: TopicDelivery,
    private readonly metrics: Metrics,
  ) {
    this.silent = new TokenBucket(config.limits.silentRate, config.limits.silentBurst);
    this.locator = new NodeLocator({ url: config.nodeLookupUrl });
    this.locating = new LocatingQueue({
      locator: this.locator,
      deliver: (e, topic, offset) => this.deliver(topic, e, { offset }),
      drop: (topic, reason) => this.dropUnlocated(topic, reason),
    });
    this.coalescer = new NodeCoalescer({
      windowMs: config.nodeBatchWindowMs,
      maxWaitMs: config.nodeBatchMaxWaitMs,
      maxPending: config.limits.maxPendingNodes,
      flush: (e, topic, offset) => this.locating.push(e, topic, offset),
      onMerged: () => this.metrics.eventsCoalesced.inc(),
    });
  }

  /** Shutdown: pending batches go out before the sockets are closed. */
  onModuleDestroy(): void {
    this.coalescer.flushAll();
  }

  handle(topic: string, e: NodeChangeEvent, delivery: Delivery): void | Promise<void> {
    if (delivery.replay) return DELIVERED_TYPES.has(e.Type) ? this.replay(topic, e, delivery) : undefined;
    if (!DELIVERED_TYPES.has(e.Type)) return this.metrics.eventsDropped.inc({ topic, reason: e.Type === 'READ' ? 'read' : 'unknown_type' });
    if (e.Silent && !this.silent.take()) return this.metrics.eventsDropped.inc({ topic, reason: 'silent_limit' });
    this.coalescer.add(e, topic, delivery.offset);
  }

  /** A node event replayed to one session: uncoalesced, located first when it has no path. */
  private async replay(topic: string, e: NodeChangeEvent, delivery: Delivery): Promise<void> {
    if (needsLookup(e)) {
      const uuid = nodeUuid(e);
      const path = uuid === undefined ? undefined : await this.locator.locate(uuid);
      if (path === undefined) return;
      e = withPath(e, path);
    }
    this.deliver(topic, e, delivery);
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
  private deliver(topic: string, e: NodeChangeEvent, delivery: Delivery): void {
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
      for (const { session, workspace, root } of this.out.registry(delivery).rootHolders(path)) {
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
    for (const { data, sessions } of frames.values()) if (data !== null) this.out.send(delivery, sessions, data, topic, receivedAt);
  }
}

