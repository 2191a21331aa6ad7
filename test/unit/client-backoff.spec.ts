import { describe, expect, it } from '@jest/globals';
import { backoffDelay, retryHint } from '../../client/src/backoff.js';

describe('backoffDelay (capped exponential, full jitter)', () => {
  it.each([
    // attempt, random, options, delay
    [0, 0, {}, 0],
    [0, 0.999999, {}, 500],
    [1, 0.5, {}, 500],
    [3, 0.5, {}, 2000],
    [6, 0.5, {}, 15_000], // 500 * 2^6 = 32 000, capped at 30 000
    [6, 0.999999, {}, 30_000],
    [100, 0.5, {}, 15_000], // no overflow far out
    [2, 1, { initialMs: 40, maxMs: 160 }, 160],
    [3, 1, { initialMs: 40, maxMs: 160 }, 160],
    [2, 0.5, { initialMs: 100, factor: 3 }, 450],
  ])('attempt %d, random %d, %j: %d ms', (attempt, random, options, delay) => {
    expect(backoffDelay(attempt, () => random, options)).toBe(delay);
  });

  it('spreads clients over the whole window, from 0 (not its upper half)', () => {
    const delays = [0, 0.25, 0.5, 0.75].map((r) => backoffDelay(4, () => r));
    expect(delays).toEqual([0, 2000, 4000, 6000]);
  });
});

describe('retryHint (the close reason of a shutdown)', () => {
  it.each([
    ['server shutting down; retry in 4200 ms', 4200],
    ['server shutting down; retry in 0 ms', 0],
    ['server shutting down', undefined],
    ['retry in soon ms', undefined],
    ['retry in 99999999 ms', undefined], // more than 7 digits: not a hint the client waits for
  ])('%j -> %j', (reason, hint) => {
    expect(retryHint(reason)).toBe(hint);
  });
});
