import { describe, expect, it } from '@jest/globals';
import { compareIds, formatOffset, nextId, parseOffset, parseStreamId, unrecoverable, type HistoryBounds } from '../../src/history/offset.js';

describe('parseOffset', () => {
  it.each([
    ['1700000000000-0@ab12cd34', { id: { ms: 1700000000000, seq: 0 }, epoch: 'ab12cd34' }],
    ['0-0@e', { id: { ms: 0, seq: 0 }, epoch: 'e' }],
    ['5-17@z9', { id: { ms: 5, seq: 17 }, epoch: 'z9' }],
    ['1700000000000-0', undefined],
    ['1700000000000-0@', undefined],
    ['@ab', undefined],
    ['17-0@AB', undefined],
    ['-1-0@ab', undefined],
    ['1.5-0@ab', undefined],
    ['1e3-0@ab', undefined],
    ['9999999999999999-0@ab', undefined],
    ['1-0@ab@cd', undefined],
    [' 1-0@ab', undefined],
    ['1-0@' + 'a'.repeat(33), undefined],
    ['1-0@a' + '0'.repeat(90), undefined],
    [42, undefined],
    [null, undefined],
    [{ id: '1-0' }, undefined],
  ])('%j -> %j', (text, expected) => {
    expect(parseOffset(text)).toEqual(expected);
  });

  it('round-trips with formatOffset', () => {
    expect(formatOffset(parseOffset('123-4@ff')!.id, 'ff')).toBe('123-4@ff');
  });
});

describe('parseStreamId and compareIds', () => {
  it.each([
    ['1-0', '1-0', 0],
    ['1-0', '1-1', -1],
    ['2-0', '1-99', 1],
    ['10-0', '9-0', 1],
    ['1700000000001-0', '1700000000000-5', 1],
  ])('%s vs %s -> %i', (a, b, sign) => {
    expect(Math.sign(compareIds(parseStreamId(a)!, parseStreamId(b)!))).toBe(sign);
  });
});

describe('nextId (the embedded history numbers as Redis does)', () => {
  it.each([
    [{ ms: 0, seq: 0 }, 100, { ms: 100, seq: 0 }],
    [{ ms: 100, seq: 0 }, 100, { ms: 100, seq: 1 }],
    [{ ms: 100, seq: 3 }, 99, { ms: 100, seq: 4 }],
    [{ ms: 100, seq: 3 }, 101, { ms: 101, seq: 0 }],
  ])('after %j at %i -> %j', (last, now, expected) => {
    expect(nextId(last, now)).toEqual(expected);
  });
});

describe('unrecoverable', () => {
  const h: HistoryBounds = { epoch: 'ep', head: { ms: 500, seq: 2 }, first: { ms: 200, seq: 0 }, oldestMs: 100 };
  it.each([
    ['garbage', h, 'not_an_offset'],
    ['300-0@other', h, 'other_epoch'],
    ['500-3@ep', h, 'future'],
    ['600-0@ep', h, 'future'],
    ['99-0@ep', { ...h, first: { ms: 50, seq: 0 } }, 'expired'],
    ['199-9@ep', h, 'trimmed'],
    ['300-0@ep', { ...h, first: undefined }, 'trimmed'],
    ['200-0@ep', h, undefined],
    ['300-0@ep', h, undefined],
    ['500-1@ep', h, undefined],
    // At the head: nothing to replay, whatever was trimmed.
    ['500-2@ep', { ...h, first: undefined, oldestMs: 10_000 }, undefined],
  ])('%s -> %s', (text, bounds, reason) => {
    const result = unrecoverable(text, bounds);
    if (reason === undefined) expect(result).toEqual({ offset: parseOffset(text) });
    else expect(result).toEqual({ reason });
  });
});
