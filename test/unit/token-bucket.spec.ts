import { describe, it, expect } from '@jest/globals';
import { TokenBucket, takeToken } from '../../src/common/token-bucket.js';

/** A bucket on a clock the test moves by hand. */
function bucket(rate: number, burst: number, start = 1_000_000) {
  let t = start;
  const b = new TokenBucket(rate, burst, () => t);
  return { b, advance: (ms: number) => void (t += ms) };
}

const takeAll = (b: TokenBucket): number => {
  let n = 0;
  while (b.take()) n++;
  return n;
};

describe('TokenBucket', () => {
  it.each<[number, number]>([
    [10, 1],
    [10, 3],
    [30, 20],
    [1, 100],
  ])('rate %i, burst %i: starts full, the burst passes at once', (rate, burst) => {
    const { b } = bucket(rate, burst);
    expect(takeAll(b)).toBe(burst);
    expect(b.take()).toBe(false);
  });

  it.each<[number, number, number, number]>([
    // rate, ms elapsed after emptying, tokens then available, burst
    [10, 0, 0, 5],
    [10, 99, 0, 5],
    [10, 100, 1, 5],
    [10, 250, 2, 5],
    [10, 500, 5, 5],
    [10, 10_000, 5, 5],
    [1000, 3, 3, 5],
    [2, 499, 0, 5],
    [2, 500, 1, 5],
  ])('rate %i/s: %i ms after emptying, %i tokens (burst %i)', (rate, ms, expected, burst) => {
    const { b, advance } = bucket(rate, burst);
    takeAll(b);
    advance(ms);
    expect(takeAll(b)).toBe(expected);
  });

  it.each<[number, number, number]>([
    // rate, ms elapsed after emptying, waitMs
    [10, 0, 100],
    [10, 50, 50],
    [10, 75, 25],
    [10, 100, 0],
    [3, 0, 334],
    [30, 0, 34],
    [1000, 0, 1],
  ])('rate %i/s: %i ms after emptying, waitMs = %i', (rate, ms, wait) => {
    const { b, advance } = bucket(rate, 2);
    takeAll(b);
    advance(ms);
    expect(b.waitMs()).toBe(wait);
  });

  it('waitMs is 0 while a token is left, and does not take it', () => {
    const { b } = bucket(10, 2);
    expect(b.waitMs()).toBe(0);
    expect(b.waitMs()).toBe(0);
    expect(takeAll(b)).toBe(2);
  });

  it('never stores more than the burst, however long it idles', () => {
    const { b, advance } = bucket(100, 4);
    advance(60_000);
    expect(takeAll(b)).toBe(4);
  });

  it('keeps fractions of a token across calls', () => {
    const { b, advance } = bucket(10, 1);
    takeAll(b);
    for (let i = 0; i < 3; i++) {
      advance(25);
      expect(b.take()).toBe(false);
    }
    advance(25);
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
  });

  it('paces a long run at the rate', () => {
    const { b, advance } = bucket(20, 1);
    let taken = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      advance(10);
      if (b.take()) taken++;
    }
    // 20/s over 10 s, the initial token spent inside the first tick.
    expect(taken).toBeGreaterThanOrEqual(199);
    expect(taken).toBeLessThanOrEqual(201);
  });

  it('uses Date.now when no clock is given', () => {
    const b = new TokenBucket(1, 1);
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
    expect(b.waitMs()).toBeGreaterThan(900);
    expect(b.waitMs()).toBeLessThanOrEqual(1000);
  });
});

describe('takeToken (the bucket in one number)', () => {
  it.each<[number, number]>([
    [20, 40],
    [10, 1],
    [4, 3],
    [1000, 5],
    [50, 10],
  ])('rate %i, burst %i: says yes and no as a token bucket does, through random frames', (rate, burst) => {
    let seed = rate * 31 + burst;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    let t = 1_700_000_000_000;
    // The bucket of TokenBucket in exact integers (thousandths of a token): its floating
    // point may land a hair under a whole token exactly at a refill.
    let milli = burst * 1000;
    let last = t;
    const ref = {
      take(): boolean {
        milli = Math.min(burst * 1000, milli + (t - last) * rate);
        last = t;
        if (milli < 1000) return false;
        milli -= 1000;
        return true;
      },
    };
    let full = 0;
    const answers: [boolean, boolean][] = [];
    for (let i = 0; i < 2000; i++) {
      // Mostly frames faster than the rate, now and then a pause long enough to refill.
      t += rand(50) ? rand(Math.ceil(1000 / rate)) : rand(Math.ceil((2 * 1000 * burst) / rate));
      const next = takeToken(full, t, rate, burst);
      if (next !== undefined) full = next;
      answers.push([ref.take(), next !== undefined]);
    }
    expect(answers.filter(([a, b]) => a !== b)).toEqual([]);
    expect(answers.some(([a]) => !a) && answers.some(([a]) => a)).toBe(true);
  });

  it('starts full: the burst passes at once, then one token per 1/rate s', () => {
    let full = 0;
    const now = 1_000_000;
    for (let i = 0; i < 3; i++) full = takeToken(full, now, 10, 3)!;
    expect(takeToken(full, now, 10, 3)).toBeUndefined();
    expect(takeToken(full, now + 99, 10, 3)).toBeUndefined();
    expect(takeToken(full, now + 100, 10, 3)).toBeDefined();
  });
});
