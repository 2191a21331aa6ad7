/**
 * How node events merge (PROTOCOL.md 3.2): a burst of writes on one node reaches browsers
 * as one event. Both node topics (tree and meta) merge under the node's key, as Cells feeds
 * both into one batcher per node: events of one node leave in the order they came,
 * whatever topic they came on (the delivery service's Coalescer does the timing). Pure.
 */
import type { NodeChangeEvent, TreeNode } from './node-event.js';

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
