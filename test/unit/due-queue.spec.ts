import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { DueQueue, type Due } from '../../src/sessions/due-queue.js';

interface Item extends Due {
  name: string;
}
const item = (name: string): Item => ({ name, dueAt: 0, dueIndex: -1 });

describe('DueQueue', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  function setup() {
    const fired: string[] = [];
    const queue = new DueQueue<Item>((i) => void fired.push(`${i.name}@${Date.now() - start}`), () => Date.now());
    const start = Date.now();
    return { queue, fired };
  }

  it('fires each item once, in due order, at its time', () => {
    const { queue, fired } = setup();
    const [a, b, c] = [item('a'), item('b'), item('c')];
    queue.set(a, 300);
    queue.set(b, 100);
    queue.set(c, 200);
    jest.advanceTimersByTime(150);
    expect(fired).toEqual(['b@100']);
    jest.advanceTimersByTime(1000);
    expect(fired).toEqual(['b@100', 'c@200', 'a@300']);
    expect(queue.size).toBe(0);
    expect([a, b, c].map((i) => i.dueIndex)).toEqual([-1, -1, -1]);
  });

  it('set again replaces the time; delete forgets the item', () => {
    const { queue, fired } = setup();
    const [a, b, c] = [item('a'), item('b'), item('c')];
    queue.set(a, 100);
    queue.set(b, 200);
    queue.set(c, 300);
    queue.set(a, 400);
    queue.delete(b);
    queue.delete(b);
    jest.advanceTimersByTime(1000);
    expect(fired).toEqual(['c@300', 'a@400']);
  });

  it('an item set again from its own firing fires again then', () => {
    const fired: number[] = [];
    const start = Date.now();
    const queue: DueQueue<Item> = new DueQueue<Item>((i) => {
      fired.push(Date.now() - start);
      if (fired.length < 3) queue.set(i, 50);
    }, () => Date.now());
    queue.set(item('a'), 10);
    jest.advanceTimersByTime(1000);
    expect(fired).toEqual([10, 60, 110]);
  });

  it('a firing that throws leaves the others scheduled', () => {
    const fired: string[] = [];
    const queue = new DueQueue<Item>((i) => {
      fired.push(i.name);
      if (i.name === 'a') throw new Error('boom');
    }, () => Date.now());
    queue.set(item('a'), 10);
    queue.set(item('b'), 20);
    expect(() => jest.advanceTimersByTime(15)).toThrow('boom');
    jest.advanceTimersByTime(100);
    expect(fired).toEqual(['a', 'b']);
  });

  it('matches a sorted list through random sets and deletes (heap order)', () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const { queue, fired } = setup();
    const items = Array.from({ length: 60 }, (_, i) => item(`i${i}`));
    const expected = new Map<Item, number>();
    for (let step = 0; step < 400; step++) {
      const it = items[rand(items.length)];
      if (rand(4) === 0) {
        queue.delete(it);
        expected.delete(it);
      } else {
        const delay = rand(10_000);
        queue.set(it, delay);
        expected.set(it, delay);
      }
    }
    expect(queue.size).toBe(expected.size);
    jest.advanceTimersByTime(20_000);
    const want = [...expected].sort((x, y) => x[1] - y[1]).map(([i, d]) => `${i.name}@${d}`);
    // Equal times may come in any order: compare the times in order, and the sets.
    expect(fired.map((f) => Number(f.split('@')[1]))).toEqual(want.map((w) => Number(w.split('@')[1])));
    expect(new Set(fired)).toEqual(new Set(want));
  });
});
