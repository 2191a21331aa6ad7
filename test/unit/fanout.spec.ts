import { describe, it, expect } from '@jest/globals';
import { Fanout } from '../../src/sessions/fanout.js';
import { Session } from '../../src/sessions/session.js';
import { payloadText } from '../support/ws-frame.js';

type Delivery = [name: string, data: string, topic: string, receivedAt: number];

/** Sessions whose outbox records every frame handed to it, in one shared log. */
function sessions(log: Delivery[], ...names: string[]): Session[] {
  return names.map((name) => {
    const outbox = { push: (data: Buffer, topic: string, at: number) => void log.push([name, payloadText(data), topic, at]), drop: () => undefined };
    return new Session('events', {} as never, outbox as never, () => undefined);
  });
}

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

/** Resolves once every job queued so far has run. */
const settled = (fanout: Fanout): Promise<void> => new Promise((resolve) => fanout.after(resolve));

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Fanout', () => {
  it.each<[number, number, number]>([
    // chunk, sessions, delivered synchronously
    [2, 5, 2],
    [3, 3, 3],
    [2000, 10, 10],
    [1, 4, 1],
  ])('chunk %i, %i sessions: %i delivered before yielding', async (chunk, n, sync) => {
    const log: Delivery[] = [];
    const fanout = new Fanout(chunk);
    fanout.send(sessions(log, ...names('s', n)), 'A', 'tree', 7);
    expect(log.map(([name]) => name)).toEqual(names('s', sync));
    await settled(fanout);
    expect(log.map(([name]) => name)).toEqual(names('s', n));
  });

  it('with chunk 2, delivers 5 sessions over three ticks', async () => {
    const log: Delivery[] = [];
    const fanout = new Fanout(2);
    fanout.send(sessions(log, ...names('s', 5)), 'A', 'tree', 7);
    const seen = [log.length];
    for (let i = 0; i < 3; i++) {
      await tick();
      seen.push(log.length);
    }
    expect(seen).toEqual([2, 4, 5, 5]);
  });

  it('hands the same data, topic and receive time to every session', async () => {
    const log: Delivery[] = [];
    const fanout = new Fanout(2);
    const data = JSON.stringify({ Type: 'CREATE' });
    fanout.send(sessions(log, 'a', 'b', 'c'), data, 'meta', 1234);
    await settled(fanout);
    expect(log).toEqual([
      ['a', data, 'meta', 1234],
      ['b', data, 'meta', 1234],
      ['c', data, 'meta', 1234],
    ]);
  });

  it('a later small job never overtakes an earlier big one', async () => {
    const log: Delivery[] = [];
    const fanout = new Fanout(2);
    const big = sessions(log, ...names('big', 7));
    const small = sessions(log, 'small');
    fanout.send(big, 'A', 't', 0);
    fanout.send(small, 'B', 't', 0);
    expect(log.map(([, data]) => data)).toEqual(['A', 'A']);
    await settled(fanout);
    expect(log.map(([name, data]) => `${name}:${data}`)).toEqual([...names('big', 7).map((n) => `${n}:A`), 'small:B']);
  });

  it('keeps the order of events per session across several chunked jobs', async () => {
    const log: Delivery[] = [];
    const fanout = new Fanout(3);
    const all = sessions(log, ...names('s', 5));
    for (const data of ['e1', 'e2', 'e3']) fanout.send(all, data, 't', 0);
    fanout.send(all.slice(0, 1), 'e4', 't', 0);
    await settled(fanout);
    const perSession = (name: string) => log.filter(([n]) => n === name).map(([, d]) => d);
    expect(perSession('s1')).toEqual(['e1', 'e2', 'e3', 'e4']);
    expect(perSession('s5')).toEqual(['e1', 'e2', 'e3']);
    expect(log.map(([, d]) => d)).toEqual([...Array(5).fill('e1'), ...Array(5).fill('e2'), ...Array(5).fill('e3'), 'e4']);
  });

  it('after() runs once the frames queued before it are handed over, not before', async () => {
    const log: Delivery[] = [];
    const fanout = new Fanout(2);
    fanout.send(sessions(log, ...names('s', 5)), 'A', 't', 0);
    let seenByAfter = -1;
    fanout.after(() => {
      seenByAfter = log.length;
    });
    fanout.send(sessions(log, 'late'), 'B', 't', 0);
    expect(seenByAfter).toBe(-1);
    await settled(fanout);
    expect(seenByAfter).toBe(5);
    expect(log).toHaveLength(6);
  });

  it('after() on an idle fanout runs at once', () => {
    const fanout = new Fanout(2);
    let ran = false;
    fanout.after(() => {
      ran = true;
    });
    expect(ran).toBe(true);
  });

  it('after() callbacks run in order', async () => {
    const log: Delivery[] = [];
    const order: string[] = [];
    const fanout = new Fanout(1);
    fanout.send(sessions(log, 'a', 'b'), 'A', 't', 0);
    fanout.after(() => order.push(`first@${log.length}`));
    fanout.send(sessions(log, 'c', 'd'), 'B', 't', 0);
    fanout.after(() => order.push(`second@${log.length}`));
    await settled(fanout);
    expect(order).toEqual(['first@2', 'second@4']);
  });

  it('copies the session list: sessions added to the iterable afterwards get nothing', async () => {
    const log: Delivery[] = [];
    const fanout = new Fanout(1);
    const [a, b, late] = sessions(log, 'a', 'b', 'late');
    const set = new Set([a, b]);
    fanout.send(set, 'A', 't', 0);
    set.add(late);
    await settled(fanout);
    expect(log.map(([name]) => name)).toEqual(['a', 'b']);
  });

  it('an empty session list queues nothing', () => {
    const log: Delivery[] = [];
    const fanout = new Fanout(2);
    fanout.send([], 'A', 't', 0);
    let ran = false;
    fanout.after(() => {
      ran = true;
    });
    expect(ran).toBe(true);
    expect(log).toEqual([]);
  });

  it('a session whose identity changed after a job was built gets nothing more of that job', async () => {
    const log: Delivery[] = [];
    const fanout = new Fanout(2);
    const all = sessions(log, ...names('s', 5));
    fanout.send(all, 'old', 't', 0); // s1, s2 handed over now; s3..s5 on later ticks
    all[3].forgetQueued(); // s4 becomes another user before its turn
    fanout.send(all, 'new', 't', 0); // built after the change: s4 gets it
    await settled(fanout);
    const perSession = (name: string) => log.filter(([n]) => n === name).map(([, d]) => d);
    expect(perSession('s4')).toEqual(['new']);
    for (const name of ['s1', 's2', 's3', 's5']) expect(perSession(name)).toEqual(['old', 'new']);
  });

  it('stamps the receive time with Date.now() by default', () => {
    const log: Delivery[] = [];
    const fanout = new Fanout();
    const before = Date.now();
    fanout.send(sessions(log, 'a'), 'A', 't');
    const after = Date.now();
    expect(log[0][3]).toBeGreaterThanOrEqual(before);
    expect(log[0][3]).toBeLessThanOrEqual(after);
  });
});
