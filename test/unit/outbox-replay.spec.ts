import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Outbox, type OutboxLimits } from '../../src/sessions/outbox.js';
import { fakeSocket, frame } from '../support/ws-frame.js';

function setup(limits: Partial<OutboxLimits> = {}) {
  const socket = fakeSocket();
  const overflow = jest.fn();
  const outbox = new Outbox(socket as never, { rate: 10, burst: 2, queueMax: 3, maxBufferedBytes: 1_000_000, ...limits }, { sent: () => undefined, queued: () => undefined, overflow });
  return { socket, outbox, overflow };
}

const id = (ms: number) => `${ms}-0`;
const replay = (...names: string[]) => names.map((n) => frame(n));

describe('Outbox during a resume (hold, then replay, then the held frames)', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it.each<[string, number[], number | undefined, string[]]>([
    ['held frames after the replay, in order', [5, 6], 4, ['r1', 'r2', 'resumed', 'l5', 'l6']],
    ['held frames the replay covered are dropped', [3, 4, 5], 4, ['r1', 'r2', 'resumed', 'l5']],
    ['no replay (recovered:false): every held frame', [3, 4], undefined, ['l3', 'l4']],
  ])('%s', (_name, live, upTo, expected) => {
    const { socket, outbox } = setup({ rate: 1000, burst: 1000, queueMax: 100 });
    outbox.hold();
    for (const ms of live) outbox.push(frame(`l${ms}`), 'tasks', 0, id(ms));
    expect(socket.sent).toEqual([]);
    outbox.release(upTo === undefined ? [] : replay('r1', 'r2', 'resumed'), upTo === undefined ? undefined : id(upTo));
    expect(socket.sent).toEqual(expected);
  });

  it('paces the replay like live frames, and lets it exceed the queue bound without a 4008', () => {
    const { socket, outbox, overflow } = setup({ rate: 10, burst: 2, queueMax: 3 });
    outbox.hold();
    outbox.release(replay('r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8'));
    expect(socket.sent).toEqual(['r1', 'r2']);
    // 6 replay frames wait: live frames still have their own bound of 3 behind them.
    for (const n of [1, 2, 3]) outbox.push(frame(`l${n}`), 'tasks', 0);
    expect(overflow).not.toHaveBeenCalled();
    jest.advanceTimersByTime(300);
    expect(socket.sent).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    outbox.push(frame('l4'), 'tasks', 0);
    expect(overflow).toHaveBeenCalledTimes(1);
  });

  it('a session that floods while held is a slow consumer', () => {
    const { outbox, overflow } = setup({ queueMax: 3 });
    outbox.hold();
    for (const n of [1, 2, 3]) outbox.push(frame(`l${n}`), 'tasks', 0);
    expect(overflow).not.toHaveBeenCalled();
    outbox.push(frame('l4'), 'tasks', 0);
    expect(overflow).toHaveBeenCalledTimes(1);
  });
});

describe('Outbox tells once when a replay is over (the memory it holds is given back then)', () => {
  it.each<[string, (o: Outbox) => void]>([
    ['no replay: at once', () => undefined],
    ['all written', () => undefined],
    ['closed mid-replay', (o) => o.close()],
    ['dropped for a new identity mid-replay', (o) => o.drop()],
    ['dropped, then closed: still once', (o) => (o.drop(), o.close())],
  ])('%s', (name, after) => {
    jest.useFakeTimers();
    try {
      const { outbox } = setup({ rate: 10, burst: 2, queueMax: 3 });
      const written = jest.fn();
      outbox.hold();
      const frames = name.startsWith('no replay') ? [] : replay('r1', 'r2', 'r3', 'r4');
      outbox.release(frames, undefined, written);
      if (frames.length) expect(written).not.toHaveBeenCalled(); // 2 of 4 written: the burst
      after(outbox);
      jest.advanceTimersByTime(1000);
      expect(written).toHaveBeenCalledTimes(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('released on a closed outbox: at once', () => {
    const { outbox } = setup();
    const written = jest.fn();
    outbox.hold();
    outbox.close();
    outbox.release(replay('r1'), undefined, written);
    expect(written).toHaveBeenCalledTimes(1);
  });
});
