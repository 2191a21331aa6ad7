/**
 * A bounded map whose entries expire: at most `maxEntries`, the oldest written going first,
 * each readable for `ttlMs` after it was written. For caches of remote answers and other
 * maps filled from outside input, which must never grow without bound.
 */
export class TtlCache<K, V> {
  /** Map order is write order (`set` re-inserts), so the first key is the oldest entry. */
  private readonly entries = new Map<K, { value: V; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The value while fresh; an expired entry is dropped. */
  get(key: K): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt > this.now()) return hit.value;
    this.entries.delete(key);
    return undefined;
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  /** `at`: when the value became true, if earlier than now (its ttl counts from then). */
  set(key: K, value: V, at = this.now()): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: at + this.ttlMs });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as K);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}
