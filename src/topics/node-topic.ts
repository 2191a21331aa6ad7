/**
 * The node topics (PROTOCOL.md 3.2), tree and meta: the same rules for both, and one key per
 * node, so that a node's events keep their order across the two. The route is pure; merging
 * (node-merge.ts) and lookups (node-locator.ts) are declared for the delivery service to run.
 */
import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, type Config } from '../config/config.js';
import type { Coalescing, Locating, Route, TopicHandler } from '../delivery/topic.js';
import { isCoalesced, mergeNodeEvents, nodeUuid } from './node-merge.js';
import { nodeFrame, parseNodeEvent, policiesAllowRead, userMetaPolicies, type NodeChangeEvent } from './node-event.js';
import { needsLookup, NodeLocator, withPath } from './node-locator.js';

const DELIVERED_TYPES = new Set(['CREATE', 'UPDATE_PATH', 'UPDATE_CONTENT', 'UPDATE_META', 'UPDATE_USER_META', 'DELETE']);

/** Who receives a node event and as which frame: one per visible workspace. Pure. */
export function nodeRoute(e: NodeChangeEvent): Route {
  if (!DELIVERED_TYPES.has(e.Type)) return { drop: e.Type === 'READ' ? 'read' : 'unknown_type' };
  let policies: unknown[] | 'public' | undefined;
  if (e.Type === 'UPDATE_USER_META') {
    policies = userMetaPolicies(e);
    if (!policies) return { drop: 'no_policies' };
    // As Cells does: the Source only carries the policies and the previous values.
    const { Source: _previous, ...rest } = e;
    e = rest;
  }
  const event = e;
  const readers = Array.isArray(policies) ? policies : undefined;
  return {
    target: event.Target?.Path,
    source: event.Source?.Path,
    allows: readers && ((identity) => policiesAllowRead(readers, identity.subjects)),
    frame: (ws, target, source) => nodeFrame(event, ws, target, source),
  };
}

/** Injectable so that its constructor's parameter types are recorded for the subclasses. */
@Injectable()
export abstract class NodeTopic implements TopicHandler<NodeChangeEvent> {
  abstract readonly topic: string;
  readonly coalesce: Coalescing<NodeChangeEvent>;
  readonly locate: Locating<NodeChangeEvent>;

  constructor(@Inject(CONFIG) config: Config, locator: NodeLocator) {
    const window = { windowMs: config.nodeBatchWindowMs, maxWaitMs: config.nodeBatchMaxWaitMs };
    this.coalesce = {
      key: (e) => (isCoalesced(e) ? `node:${e.Target!.Uuid}` : undefined),
      // A node's other events go after its pending batch.
      after: (e) => (DELIVERED_TYPES.has(e.Type) && nodeUuid(e) !== undefined ? `node:${nodeUuid(e)}` : undefined),
      merge: mergeNodeEvents,
      window: () => window,
    };
    this.locate = {
      enabled: locator.enabled,
      needs: (e) => (DELIVERED_TYPES.has(e.Type) && needsLookup(e) ? (nodeUuid(e) ?? '') : undefined),
      orderKey: nodeUuid,
      cached: (uuid) => (uuid ? locator.cached(uuid) : undefined),
      lookup: (uuid) => (uuid ? locator.locate(uuid) : Promise.resolve(undefined)),
      apply: withPath,
      observe: (e) => locator.observe(e),
    };
  }

  parse(raw: unknown): NodeChangeEvent {
    return parseNodeEvent(raw);
  }

  route(e: NodeChangeEvent): Route {
    return nodeRoute(e);
  }

  /** Silent events pass the global limiter (SILENT_RATE). */
  limited(e: NodeChangeEvent): boolean {
    return e.Silent === true;
  }
}
