import { describe, it, expect } from '@jest/globals';
import { TokenBucket } from '../../src/common/token-bucket.js';

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
