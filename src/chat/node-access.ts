/** Asks the configured authorization endpoint whether a token may read / write a node (NODE rooms). */
import { createHash } from 'node:crypto';
import { isRecord } from '../common/schema.js';
import type { NodePermission } from './room-access.js';

export interface NodeAccessOptions {
  /** Endpoint URL; without it every check answers undefined (deny). */
  url?: string;
  /** How long an answer is reused for the same (token, node). */
  ttlMs?: number;
  /** Whole request budget, body included. */
  timeoutMs?: number;
  /** Cache bound; the oldest entry is evicted first. */
  maxEntries?: number;
  fetchFn?: typeof fetch;
  /** Clock for the cache, injectable for tests. */
  now?: () => number;
}

interface CacheEntry {
  value: NodePermission;
  expiresAt: number;
}

export class NodeAccessClient {
  private readonly url?: string;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly maxEntries: number;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  // Map keeps insertion order, so the first key is the oldest entry.
  private readonly cache = new Map<string, CacheEntry>();

  constructor(opts: NodeAccessOptions = {}) {
    this.url = opts.url;
    this.ttlMs = opts.ttlMs ?? 10_000;
    this.timeoutMs = opts.timeoutMs ?? 3_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.fetchFn = opts.fetchFn ?? fetch;
    this.now = opts.now ?? Date.now;
  }

  /** The permission, or undefined (= deny) when the endpoint is missing, failing or slow. Failures are not cached. */
  async check(token: string, nodeUuid: string): Promise<NodePermission | undefined> {
    if (!this.url) return undefined;
    const key = cacheKey(token, nodeUuid);
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt > this.now()) return hit.value;
    if (hit) this.cache.delete(key);

    const value = await this.request(this.url, token, nodeUuid);
    if (value) this.remember(key, value);
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
      const res = await this.fetchFn(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ NodeUuid: nodeUuid }),
        signal: controller.signal,
      });
      if (!res.ok) return undefined;
      return parsePermission(await res.json());
    })().catch(() => undefined);
    try {
      return await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private remember(key: string, value: NodePermission): void {
    this.cache.delete(key);
    this.cache.set(key, { value, expiresAt: this.now() + this.ttlMs });
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
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
