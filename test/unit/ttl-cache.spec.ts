import { describe, expect, it } from '@jest/globals';
import { TtlCache } from '../../src/common/ttl-cache.js';

describe('TtlCache', () => {
  const clock = () => {
    let t = 1_000;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it.each<[string, number, string | undefined]>([
    ['fresh just before its ttl', 999, 'v'],
    ['expired at its ttl', 1000, undefined],
    ['expired after its ttl', 5000, undefined],
  ])('an entry read %s', (_what, elapsed, expected) => {
    const c = clock();
    const cache = new TtlCache<string, string>(1000, 10, c.now);
    cache.set('k', 'v');
    c.advance(elapsed);
    expect(cache.get('k')).toBe(expected);
    expect(cache.has('k')).toBe(expected !== undefined);
  });

  it('drops an expired entry when it is read', () => {
    const c = clock();
    const cache = new TtlCache<string, number>(10, 10, c.now);
    cache.set('a', 1);
    c.advance(10);
    expect(cache.size).toBe(1);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps at most maxEntries, dropping the oldest written first', () => {
    const cache = new TtlCache<string, number>(60_000, 3);
    for (const [k, v] of [['a', 1], ['b', 2], ['c', 3]] as const) cache.set(k, v);
    cache.set('a', 10); // written again: now the newest
    cache.set('d', 4);
    expect([cache.get('a'), cache.get('b'), cache.get('c'), cache.get('d')]).toEqual([10, undefined, 3, 4]);
    expect(cache.size).toBe(3);
  });

  it('restarts the ttl of an entry written again, and forgets a deleted one', () => {
    const c = clock();
    const cache = new TtlCache<string, string>(100, 10, c.now);
    cache.set('k', 'old');
    c.advance(90);
    cache.set('k', 'new');
    c.advance(90);
    expect(cache.get('k')).toBe('new');
    cache.delete('k');
    expect(cache.get('k')).toBeUndefined();
  });
});
