import { describe, expect, it } from '@jest/globals';
import { compareIds, formatOffset, nextId, parseOffset, parseStreamId, unrecoverable, type HistoryBounds } from '../../src/history/offset.js';

describe('parseOffset', () => {
  it.each([
    ['1700000000000-0@ab12cd34', { id: '1700000000000-0', epoch: 'ab12cd34' }],
    ['0-0@e', { id: '0-0', epoch: 'e' }],
    ['5-17@z9', { id: '5-17', epoch: 'z9' }],
    // Any id Redis can hold (an XADD with an explicit id), exactly: 2^64-1 in each part at most.
    ['9999999999999999-0@ab', { id: '9999999999999999-0', epoch: 'ab' }],
    ['1-12345678901234567@ab', { id: '1-12345678901234567', epoch: 'ab' }],
    ['18446744073709551615-18446744073709551615@ab', { id: '18446744073709551615-18446744073709551615', epoch: 'ab' }],
    ['18446744073709551616-0@ab', undefined],
    ['1-18446744073709551616@ab', undefined],
    ['01-0@ab', undefined],
    ['1-00@ab', undefined],
    ['1700000000000-0', undefined],
    ['1700000000000-0@', undefined],
    ['@ab', undefined],
    ['17-0@AB', undefined],
    ['-1-0@ab', undefined],
    ['1.5-0@ab', undefined],
    ['1e3-0@ab', undefined],
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
    // Past 2^53, where numbers would round: 9007199254740993 and ...992 are one double.
    ['9007199254740993-0', '9007199254740992-0', 1],
    ['1-9007199254740993', '1-9007199254740992', 1],
    ['9999999999999999-0', '1700000000000-0', 1],
    ['18446744073709551615-0', '18446744073709551614-99', 1],
    ['99-0', '100-0', -1],
  ])('%s vs %s -> %i', (a, b, sign) => {
    expect(Math.sign(compareIds(parseStreamId(a)!, parseStreamId(b)!))).toBe(sign);
  });
});

describe('nextId (the embedded history numbers as Redis does)', () => {
  it.each([
    ['0-0', 100, '100-0'],
    ['100-0', 100, '100-1'],
    ['100-3', 99, '100-4'],
    ['100-3', 101, '101-0'],
  ])('after %j at %i -> %j', (last, now, expected) => {
    expect(nextId(last, now)).toEqual(expected);
  });
});

describe('unrecoverable', () => {
  const h: HistoryBounds = { epoch: 'ep', head: '500-2', first: '200-0', oldestMs: 100 };
  it.each([
    ['garbage', h, 'not_an_offset'],
    ['300-0@other', h, 'other_epoch'],
    ['500-3@ep', h, 'future'],
    ['600-0@ep', h, 'future'],
    ['99-0@ep', { ...h, first: '50-0' }, 'expired'],
    // A head far ahead (an explicit XADD id) still resumes exactly.
    ['9999999999999999-0@ep', { ...h, head: '9999999999999999-3' }, undefined],
    ['9999999999999999-4@ep', { ...h, head: '9999999999999999-3' }, 'future'],
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
