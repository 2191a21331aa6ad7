import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { RoomUpdateWindows } from '../../src/chat/room-update-windows.js';

describe('RoomUpdateWindows', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  /** Changes at `[ms, room]`: what request() answered, and when which room was flushed. */
  function run(windowMs: number, changes: Array<[number, string]>, until: number) {
    const flushes: Array<[number, string]> = [];
    const start = Date.now();
    const windows = new RoomUpdateWindows(windowMs, (room) => flushes.push([Date.now() - start, room]));
    const answers: boolean[] = [];
    for (const [at, room] of changes) {
      jest.advanceTimersByTime(at - (Date.now() - start));
      answers.push(windows.request(room));
    }
    jest.advanceTimersByTime(until - (Date.now() - start));
    return { answers, flushes, open: windows.size };
  }

  it.each<[string, number, Array<[number, string]>, boolean[], Array<[number, string]>]>([
    // name, window, changes, answers (true: sent now), flushes
    ['a single change goes out at once, nothing follows', 100, [[0, 'r']], [true], []],
    ['changes within the window go out once, at its end', 100, [[0, 'r'], [10, 'r'], [50, 'r'], [99, 'r']], [true, false, false, false], [[100, 'r']]],
    ['a change during a flushed window waits for the next end', 100, [[0, 'r'], [10, 'r'], [150, 'r']], [true, false, false], [[100, 'r'], [200, 'r']]],
    ['a quiet window closes: the next change goes out at once', 100, [[0, 'r'], [100, 'r'], [250, 'r']], [true, true, true], []],
    [
      'a steady stream: at most one per window',
      100,
      Array.from({ length: 50 }, (_, i): [number, string] => [i * 10, 'r']),
      [true, ...Array<boolean>(49).fill(false)],
      [[100, 'r'], [200, 'r'], [300, 'r'], [400, 'r'], [500, 'r']],
    ],
    ['rooms have windows of their own', 100, [[0, 'a'], [10, 'b'], [20, 'a'], [30, 'b']], [true, true, false, false], [[100, 'a'], [110, 'b']]],
    ['window 0: every change at once', 0, [[0, 'r'], [0, 'r'], [1, 'r']], [true, true, true], []],
  ])('%s', (_name, windowMs, changes, answers, flushes) => {
    const result = run(windowMs, changes, 1000);
    expect(result.answers).toEqual(answers);
    expect(result.flushes).toEqual(flushes);
    expect(result.open).toBe(0); // every window closed once quiet: nothing kept
  });

  it('clear() drops what is due', () => {
    const flushed: string[] = [];
    const windows = new RoomUpdateWindows(100, (room) => flushed.push(room));
    windows.request('r');
    windows.request('r');
    windows.clear();
    jest.advanceTimersByTime(1000);
    expect(flushed).toEqual([]);
    expect(windows.size).toBe(0);
  });
});
