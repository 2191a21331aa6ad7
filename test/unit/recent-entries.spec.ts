/**
 * RecentEntries: the newest history entries kept in memory for replays, bounded in count and
 * bytes; `range` answers from memory only when nothing after the offset can be missing.
 */
import { describe, expect, it } from '@jest/globals';
import { RecentEntries } from '../../src/history/recent-entries.js';

const entry = (id: string, raw = 'x') => ({ id, channel: 'c', raw });
const ids = (list: { id: string }[] | undefined) => list?.map((e) => e.id);

/** Entries 1-0 .. n-0, pushed from the stream's first entry on. */
function filled(n: number, maxEntries = 100, maxBytes = 1 << 20): RecentEntries {
  const r = new RecentEntries(maxEntries, maxBytes);
  r.clear(true);
  for (let i = 1; i <= n; i++) r.push(entry(`${i}-0`));
  return r;
}

describe('RecentEntries.range', () => {
  it.each<[string, RecentEntries, string, string, number, boolean, string[] | undefined]>([
    ['after the first, up to the last', filled(5), '1-0', '5-0', 10, false, ['2-0', '3-0', '4-0', '5-0']],
    ['up to an entry in the middle (included)', filled(5), '1-0', '3-0', 10, false, ['2-0', '3-0']],
    ['up to an id between two entries', filled(5), '0-0', '3-5', 10, false, ['1-0', '2-0', '3-0']],
    ['at most `count`', filled(5), '0-0', '5-0', 2, false, ['1-0', '2-0']],
    ['count 0', filled(5), '0-0', '5-0', 0, false, []],
    ['nothing after the head', filled(5), '5-0', '5-0', 10, false, []],
    ['after an id between entries', filled(5), '2-5', '5-0', 10, false, ['3-0', '4-0', '5-0']],
    ['upTo before after', filled(5), '4-0', '2-0', 10, false, []],
    // 3 kept of 5: 1-0 and 2-0 were evicted, so what follows 0-0 or 1-0 is not all here.
    ['evicted: an offset before the first kept one is not answered', filled(5, 3), '1-0', '5-0', 10, false, undefined],
    ['evicted: even from just before the first kept one (an evicted entry may have been between)', filled(5, 3), '2-0', '5-0', 10, false, undefined],
    ['evicted: from the first kept one on, complete', filled(5, 3), '3-0', '5-0', 10, false, ['4-0', '5-0']],
    ['evicted, partial: what is kept', filled(5, 3), '0-0', '5-0', 10, true, ['3-0', '4-0', '5-0']],
    ['ids compared as numbers, not strings', filled(12), '9-0', '11-0', 10, false, ['10-0', '11-0']],
  ])('%s', (_case, recent, after, upTo, count, partial, expected) => {
    expect(ids(recent.range(after, upTo, count, partial))).toEqual(expected);
  });

  it('evicts by bytes (UTF-16 of id, channel and payload, plus 64 per entry), never the last entry', () => {
    const r = new RecentEntries(100, 2 * 200 + 64 + 10);
    r.clear(true);
    r.push(entry('1-0', 'a'.repeat(190)));
    r.push(entry('2-0', 'b'.repeat(190)));
    expect(r.length).toBe(1);
    expect(r.first).toBe('2-0');
    r.push(entry('3-0', 'c'.repeat(10_000)));
    expect(ids(r.range('0-0', '9-0', 10, true))).toEqual(['3-0']);
  });

  it('starts over when an id does not increase (a new stream)', () => {
    const r = filled(3);
    r.push(entry('2-0'));
    expect(ids(r.range('0-0', '9-0', 10, true))).toEqual(['2-0']);
    expect(r.range('0-0', '9-0', 10)).toBeUndefined(); // entries before 2-0 may exist elsewhere
  });

  it('keeps answering after compaction (more than 1,024 evicted)', () => {
    const r = filled(3000, 500);
    expect(r.length).toBe(500);
    expect(r.has('2501-0')).toBe(true);
    expect(r.has('2500-0')).toBe(false);
    expect(ids(r.range('2998-0', '3000-0', 10))).toEqual(['2999-0', '3000-0']);
  });
});
