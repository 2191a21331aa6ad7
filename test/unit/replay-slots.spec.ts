/**
 * The replay slots (PROTOCOL 6): at most `max` replays at once, at most `queueMax` waiting; a
 * resume refused for a full queue answers `busy`, one whose wait outlasted its deadline `timeout`.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { ReplaySlots } from '../../src/delivery/replay-slots.js';

describe('ReplaySlots', () => {
  beforeEach(() => void jest.useFakeTimers({ now: 0 }));
  afterEach(() => void jest.useRealTimers());

  /** Work that runs until `finish` is called. */
  const pending = () => {
    let finish!: (v: string) => void;
    const done = new Promise<string>((r) => (finish = r));
    return { work: () => done, finish };
  };

  it.each([
    { case: 'a free slot runs at once', max: 1, queueMax: 0, running: 0, expected: 'ran' },
    { case: 'the queue is full: busy at once, before any deadline', max: 1, queueMax: 0, running: 1, expected: { reason: 'busy' } },
    { case: 'queued and no slot before the deadline: timeout', max: 1, queueMax: 1, running: 1, expected: { reason: 'timeout' } },
    { case: 'queued, a slot comes free before the deadline: it runs', max: 1, queueMax: 1, running: 1, freeAt: 500, expected: 'ran' },
  ])('$case', async ({ max, queueMax, running, freeAt, expected }) => {
    const slots = new ReplaySlots(max, queueMax);
    const holders = Array.from({ length: running }, () => pending());
    const held = holders.map((h) => slots.run(10_000, h.work));
    if (freeAt !== undefined) setTimeout(() => holders.forEach((h) => h.finish('held')), freeAt);
    const result = slots.run(1000, async () => 'ran');
    await jest.advanceTimersByTimeAsync(1001);
    await expect(result).resolves.toEqual(expected);
    holders.forEach((h) => h.finish('held'));
    await expect(Promise.all(held)).resolves.toEqual(holders.map(() => 'held'));
  });

  it('hands a slot on to the next waiter when a waiter timed out', async () => {
    const slots = new ReplaySlots(1, 2);
    const holder = pending();
    const held = slots.run(10_000, holder.work);
    const early = slots.run(100, async () => 'early');
    const late = slots.run(5000, async () => 'late');
    await jest.advanceTimersByTimeAsync(101);
    await expect(early).resolves.toEqual({ reason: 'timeout' });
    holder.finish('held');
    await expect(held).resolves.toBe('held');
    await expect(late).resolves.toBe('late');
  });
});
