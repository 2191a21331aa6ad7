/**
 * Finding a node by uuid (PROTOCOL 3.2): Cells publishes some node events with no path
 * at all (the `comments` UPDATE_USER_META of NODE chat rooms) and looks the node up before
 * broadcasting. Switchboard does the same through an optional HTTP endpoint
 * (NODE_LOOKUP_URL); without one, or when it fails, such an event is dropped and counted,
 * never delivered blindly.
 */
import { fetchBounded, parseJson } from '../common/bounded-fetch.js';
import { isRecord } from '../common/schema.js';
import { TtlCache } from '../common/ttl-cache.js';
import { nodeUuid } from './node-merge.js';
import type { NodeChangeEvent } from './node-event.js';

export interface NodeLocatorOptions {
  /** `GET <url>?uuid=<uuid>` answers `{"Path":"..."}` or `{"Node":{"Path":"..."}}`; unset: no lookups. */
  url?: string;
  /** How long an answer is reused; moves and deletions seen on the bus update it before that. */
  ttlMs?: number;
  /** Whole request budget, body included. */
  timeoutMs?: number;
  /** Cache bound; the oldest entry goes first. */
  maxEntries?: number;
  fetchFn?: typeof fetch;
  now?: () => number;
}

const MAX_BODY_CHARS = 64 * 1024;
const MAX_PATH_CHARS = 4096;

export class NodeLocator {
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;
  /** uuid -> path. */
  private readonly cache: TtlCache<string, string>;
  /** Lookups under way, by uuid: a second asker (a replay, another node event) waits for the same answer. */
  private readonly inFlight = new Map<string, Promise<string | undefined>>();

  constructor(private readonly opts: NodeLocatorOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 2_000;
    this.fetchFn = opts.fetchFn ?? fetch;
    this.cache = new TtlCache(opts.ttlMs ?? 60_000, opts.maxEntries ?? 10_000, opts.now);
  }

  get enabled(): boolean {
    return Boolean(this.opts.url);
  }

  get size(): number {
    return this.cache.size;
  }

  /** The cached path, if any and fresh. */
  cached(uuid: string): string | undefined {
    return this.cache.get(uuid);
  }

  /** The node's path, or undefined when not found, failing or slow. Never rejects; failures are not cached. */
  locate(uuid: string): Promise<string | undefined> {
    const cached = this.cached(uuid);
    if (cached !== undefined || !this.opts.url) return Promise.resolve(cached);
    let pending = this.inFlight.get(uuid);
    if (!pending) {
      pending = this.fetchPath(uuid).finally(() => this.inFlight.delete(uuid));
      this.inFlight.set(uuid, pending);
    }
    return pending;
  }

  private async fetchPath(uuid: string): Promise<string | undefined> {
    if (!this.opts.url) return undefined;
    try {
      const url = new URL(this.opts.url);
      url.searchParams.set('uuid', uuid);
      // Streamed and dropped past MAX_BODY_CHARS bytes, no redirect followed (bounded-fetch.ts).
      const answer = await fetchBounded(url, { headers: { accept: 'application/json' } }, { target: 'node_lookup', maxBytes: MAX_BODY_CHARS, timeoutMs: this.timeoutMs, fetchFn: this.fetchFn });
      const path = answer.ok ? pathOf(parseJson(answer.body)) : undefined;
      if (path !== undefined) this.cache.set(uuid, path);
      return path;
    } catch {
      return undefined;
    }
  }

  /** Keeps cached paths true to what the bus says: a move updates its entry, a deletion drops it. */
  observe(e: NodeChangeEvent): void {
    const uuid = nodeUuid(e);
    if (uuid === undefined || !this.cache.has(uuid)) return;
    if (e.Type === 'DELETE') this.cache.delete(uuid);
    else if (e.Target?.Uuid === uuid && e.Target.Path) this.cache.set(uuid, e.Target.Path);
  }
}

/** `{"Path"}` or Cells' ReadNodeResponse `{"Node":{"Path"}}`, normalised; undefined when absent or unfit. */
function pathOf(body: unknown): string | undefined {
  const node = isRecord(body) && isRecord(body.Node) ? body.Node : body;
  if (!isRecord(node) || typeof node.Path !== 'string') return undefined;
  const path = node.Path.replace(/^\/+|\/+$/g, '');
  return path !== '' && path.length <= MAX_PATH_CHARS ? path : undefined;
}

/** Neither side names a path: visibility cannot be decided without a lookup. */
export function needsLookup(e: NodeChangeEvent): boolean {
  return !e.Target?.Path && !e.Source?.Path;
}

/** A copy of `e` whose Target (else Source) has `path`. */
export function withPath(e: NodeChangeEvent, path: string): NodeChangeEvent {
  if (e.Target) return { ...e, Target: { ...e.Target, Path: path } };
  return { ...e, Source: { ...e.Source, Path: path } };
}
