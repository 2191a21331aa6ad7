import { describe, expect, it } from '@jest/globals';
import type { HistoryEntry } from '../../src/history/history.js';
import { MemoryHistory } from '../../src/history/memory-history.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('MemoryHistory (embedded mode)', () => {
  it('numbers entries in order, delivers them, and serves ranges up to the head', async () => {
    const h = new MemoryHistory({ key: 'k', maxLength: 100, ttlSeconds: 60, leaseMs: 3000, cacheBytes: 0 });
    const got: HistoryEntry[] = [];
    h.start((e) => got.push(e));
    for (const n of [1, 2, 3]) await h.append('c', `{"n":${n}}`);
    await tick();
    expect(got.map((e) => e.raw)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
    const bounds = await h.bounds();
    expect(bounds.head).toEqual(got[2].id);
    expect((await h.range(got[0].id, bounds.head, 10)).map((e) => e.raw)).toEqual(['{"n":2}', '{"n":3}']);
    expect((await h.range(got[0].id, got[1].id, 10)).map((e) => e.raw)).toEqual(['{"n":2}']);
    expect(await h.range(got[0].id, bounds.head, 1)).toHaveLength(1);
  });

  it.each([
    [3, 10, 3],
    [1, 10, 1],
    [100, 10, 10],
  ])('keeps at most HISTORY_MAX_LENGTH=%i entries (of %i)', async (maxLength, appended, kept) => {
    const h = new MemoryHistory({ key: 'k', maxLength, ttlSeconds: 60, leaseMs: 3000, cacheBytes: 0 });
    for (let n = 0; n < appended; n++) await h.append('c', String(n));
    expect((await h.stats()).length).toBe(kept);
    await tick();
    const bounds = await h.bounds();
    expect((await h.range('0-0', bounds.head, 1000)).map((e) => e.raw)[0]).toBe(String(appended - kept));
  });
});
