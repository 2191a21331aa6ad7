import { describe, expect, it } from '@jest/globals';
import { backoffDelay } from '../../client/src/backoff.js';

describe('backoffDelay (capped exponential, equal jitter)', () => {
  it.each([
    // attempt, random, options, delay
    [0, 0, {}, 250],
    [0, 0.999999, {}, 500],
    [1, 0, {}, 500],
    [3, 0.5, {}, 3000],
    [6, 0, {}, 15_000], // 500 * 2^6 = 32 000, capped at 30 000
    [6, 1, {}, 30_000],
    [100, 0, {}, 15_000], // no overflow far out
    [2, 0, { initialMs: 40, maxMs: 160 }, 80],
    [3, 0, { initialMs: 40, maxMs: 160 }, 80],
    [2, 0.5, { initialMs: 100, factor: 3 }, 675],
  ])('attempt %d, random %d, %j: %d ms', (attempt, random, options, delay) => {
    expect(backoffDelay(attempt, () => random, options)).toBe(delay);
  });

  it('spreads clients over the upper half of the curve', () => {
    const delays = [0, 0.25, 0.5, 0.75].map((r) => backoffDelay(4, () => r));
    expect(delays).toEqual([4000, 5000, 6000, 7000]);
  });
});
