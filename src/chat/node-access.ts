/** Asks the configured authorization endpoint whether a token may read / write a node (NODE rooms). */
import { createHash } from 'node:crypto';
import { fetchBounded, parseJson, type BoundedFetchOptions } from '../common/bounded-fetch.js';
import { isRecord } from '../common/schema.js';
import { TtlCache } from '../common/ttl-cache.js';
import type { NodePermission } from './room-access.js';

export interface NodeAccessOptions {
  /** Endpoint URL; without it every check answers undefined (deny). */
  url?: string;
  /** How long an answer is reused for the same (token, node). */
  ttlMs?: number;
  /** Whole request budget, body included. */
  timeoutMs?: number;
  /** Largest answer read; beyond, the answer is dropped (deny). */
  maxBytes?: number;
  /** Holds an answer's bytes against the memory budget while it is read (bounded-fetch.ts). */
  reserve?: BoundedFetchOptions['reserve'];
  /** Cache bound; the oldest entry is evicted first. */
  maxEntries?: number;
  fetchFn?: typeof fetch;
  /** Clock for the cache, injectable for tests. */
  now?: () => number;
}

export class NodeAccessClient {
  private readonly url?: string;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly cache: TtlCache<string, NodePermission>;

  constructor(private readonly opts: NodeAccessOptions = {}) {
    this.url = opts.url;
    this.timeoutMs = opts.timeoutMs ?? 3_000;
    this.fetchFn = opts.fetchFn ?? fetch;
    this.cache = new TtlCache(opts.ttlMs ?? 10_000, opts.maxEntries ?? 10_000, opts.now);
  }

  /** The permission, or undefined (= deny) when the endpoint is missing, failing or slow. Failures are not cached. */
  async check(token: string, nodeUuid: string): Promise<NodePermission | undefined> {
    if (!this.url) return undefined;
    const key = cacheKey(token, nodeUuid);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const value = await this.request(this.url, token, nodeUuid);
    if (value) this.cache.set(key, value);
    return value;
  }

  /** Number of cached answers (for tests and metrics). */
  get size(): number {
    return this.cache.size;
  }

  private async request(url: string, token: string, nodeUuid: string): Promise<NodePermission | undefined> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Race against our own timer too, so a fetchFn that ignores the signal still cannot hang a JOIN.
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve(undefined);
      }, this.timeoutMs);
    });
    const call = (async () => {
      const answer = await fetchBounded(
        url,
        { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` }, body: JSON.stringify({ NodeUuid: nodeUuid }), signal: controller.signal },
        { target: 'node_auth', maxBytes: this.opts.maxBytes ?? 64 * 1024, timeoutMs: this.timeoutMs, fetchFn: this.fetchFn, reserve: this.opts.reserve },
      );
      return answer.ok ? parsePermission(parseJson(answer.body)) : undefined;
    })().catch(() => undefined);
    try {
      return await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

}

/** Hashed, so the cache holds no bearer tokens and its keys stay short. */
function cacheKey(token: string, nodeUuid: string): string {
  return createHash('sha256').update(token).update('\0').update(nodeUuid).digest('base64');
}

/**
 * `{"read","write"}` or `{"Read","Write"}`. A missing field is false (protobuf JSON omits
 * false values); a field that is present but not a boolean makes the whole answer invalid.
 */
function parsePermission(body: unknown): NodePermission | undefined {
  if (!isRecord(body)) return undefined;
  const read = body.read ?? body.Read ?? false;
  const write = body.write ?? body.Write ?? false;
  if (typeof read !== 'boolean' || typeof write !== 'boolean') return undefined;
  return { read, write };
}
