/**
 * A bounded map whose entries expire: at most `maxEntries`, the oldest written going first,
 * each readable for `ttlMs` after it was written. For caches of remote answers and other
 * maps filled from outside input, which must never grow without bound.
 */
export class TtlCache<K, V> {
  /** Map order is write order (`set` re-inserts), so the first key is the oldest entry. */
  private readonly map = new Map<K, { value: V; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** The value while fresh; an expired entry is dropped. */
  get(key: K): V | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt > this.now()) return hit.value;
    this.map.delete(key);
    return undefined;
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  /** `at`: when the value became true, if earlier than now (its ttl counts from then). */
  set(key: K, value: V, at = this.now()): void {
    this.map.delete(key);
    this.map.set(key, { value, expiresAt: at + this.ttlMs });
    while (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value as K);
  }

  /** The fresh entries, oldest written first: key, value, expiry (ms). */
  *entries(): IterableIterator<[K, V, number]> {
    const now = this.now();
    for (const [key, { value, expiresAt }] of this.map) if (expiresAt > now) yield [key, value, expiresAt];
  }

  delete(key: K): void {
    this.map.delete(key);
  }
}
