import { describe, it, expect, jest, beforeEach, afterEach } from '@jest/globals';
import { createRequire } from 'node:module';
import { Outbox, textFrame, type OutboxLimits } from '../../src/sessions/outbox.js';
import { fakeSocket, frame, payloadText } from '../support/ws-frame.js';

function setup(limits: Partial<OutboxLimits> = {}) {
  const socket = fakeSocket();
  const deltas: number[] = [];
  const sentHook: [string, number][] = [];
  const overflow = jest.fn();
  const outbox = new Outbox(
    socket as never,
    { rate: 10, burst: 3, queueMax: 100, maxBufferedBytes: 1_000_000, ...limits },
    { sent: (topic, at) => void sentHook.push([topic, at]), queued: (d) => void deltas.push(d), overflow },
  );
  const queuedNow = (): number => deltas.reduce((a, b) => a + b, 0);
  return { socket, outbox, deltas, sentHook, overflow, queuedNow };
}

const frames = (n: number, from = 1): string[] => Array.from({ length: n }, (_, i) => `f${from + i}`);

/** ws' own framing (untyped: @types/ws does not declare Sender), the reference for `textFrame`. */
const { Sender } = createRequire(import.meta.url)('ws') as { Sender: { frame(data: Buffer, options: object): Buffer[] } };

describe('textFrame', () => {
  it.each<[string, Buffer]>([
    ['empty', Buffer.alloc(0)],
    ['1 byte', Buffer.from('a')],
    ['125 bytes: the last 7-bit length', Buffer.alloc(125, 'x')],
    ['126 bytes: the first 16-bit length', Buffer.alloc(126, 'x')],
    ['65,535 bytes: the last 16-bit length', Buffer.alloc(65_535, 'x')],
    ['65,536 bytes: the first 64-bit length', Buffer.alloc(65_536, 'x')],
    ['multi-byte UTF-8', Buffer.from('{"Path":"été/日本"}')],
  ])('%s: the bytes ws would write for a text message', (_what, payload) => {
    const ws = Buffer.concat(Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
    expect(textFrame(payload).equals(ws)).toBe(true);
  });
});

describe('Outbox', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it.each<[number, number]>([
    [1, 1],
    [3, 5],
    [20, 20],
    [20, 50],
  ])('burst %i: of %i frames the burst passes at once', (burst, n) => {
    const { socket, outbox, queuedNow } = setup({ rate: 30, burst });
    for (const f of frames(n)) outbox.push(frame(f), 'tree', 0);
    expect(socket.sent).toEqual(frames(Math.min(burst, n)));
    expect(outbox.length).toBe(Math.max(0, n - burst));
    expect(queuedNow()).toBe(Math.max(0, n - burst));
  });

  it('the excess waits in order and drains at the configured rate', () => {
    const { socket, outbox, queuedNow } = setup({ rate: 10, burst: 3 });
    for (const f of frames(13)) outbox.push(frame(f), 'tree', 0);
    expect(socket.sent).toEqual(frames(3));

    jest.advanceTimersByTime(99);
    expect(socket.sent).toHaveLength(3);
    jest.advanceTimersByTime(1);
    expect(socket.sent).toEqual(frames(4));

    jest.advanceTimersByTime(400);
    expect(socket.sent).toEqual(frames(8));
    expect(queuedNow()).toBe(5);

    jest.advanceTimersByTime(500);
    expect(socket.sent).toEqual(frames(13));
    expect(outbox.length).toBe(0);
    expect(queuedNow()).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('a frame pushed while others wait goes behind them, even when a token is free', () => {
    const { socket, outbox } = setup({ rate: 10, burst: 1 });
    outbox.push(frame('a'), 't', 0);
    outbox.push(frame('b'), 't', 0);
    // The clock moves on without the drain timer firing: tokens are available, 'b' still waits.
    jest.setSystemTime(Date.now() + 500);
    outbox.push(frame('c'), 't', 0);
    expect(socket.sent).toEqual(['a']);
    jest.advanceTimersByTime(1000);
    expect(socket.sent).toEqual(['a', 'b', 'c']);
  });

  it('refills after idling, up to the burst', () => {
    const { socket, outbox } = setup({ rate: 10, burst: 3 });
    for (const f of frames(3)) outbox.push(frame(f), 't', 0);
    jest.advanceTimersByTime(10_000);
    for (const f of frames(5, 4)) outbox.push(frame(f), 't', 0);
    expect(socket.sent).toEqual(frames(6));
  });

  it('reports each frame that reached the socket with its topic and receive time', () => {
    const { outbox, sentHook } = setup({ rate: 10, burst: 1 });
    outbox.push(frame('a'), 'tree', 111);
    outbox.push(frame('b'), 'tasks', 222);
    expect(sentHook).toEqual([['tree', 111]]);
    jest.advanceTimersByTime(100);
    expect(sentHook).toEqual([
      ['tree', 111],
      ['tasks', 222],
    ]);
  });

  it('sends nothing to a socket that is no longer open', () => {
    const { socket, outbox, sentHook } = setup();
    socket.readyState = 3;
    outbox.push(frame('a'), 't', 0);
    expect(socket.sent).toEqual([]);
    expect(sentHook).toEqual([]);
  });

  it.each<[number]>([[1], [2], [10]])('queue past queueMax %i: overflow once, nothing more sent', (queueMax) => {
    const { socket, outbox, overflow, queuedNow } = setup({ rate: 10, burst: 1, queueMax });
    outbox.push(frame('first'), 't', 0);
    for (const f of frames(queueMax)) outbox.push(frame(f), 't', 0);
    expect(overflow).not.toHaveBeenCalled();
    expect(outbox.length).toBe(queueMax);

    outbox.push(frame('one too many'), 't', 0);
    expect(overflow).toHaveBeenCalledTimes(1);
    expect(outbox.length).toBe(0);
    expect(queuedNow()).toBe(0);

    outbox.push(frame('after'), 't', 0);
    jest.advanceTimersByTime(60_000);
    expect(overflow).toHaveBeenCalledTimes(1);
    expect(socket.sent).toEqual(['first']);
  });

  it('socket bufferedAmount past maxBufferedBytes on push: overflow', () => {
    const { socket, outbox, overflow } = setup({ maxBufferedBytes: 1024 });
    socket.bufferedAmount = 1024;
    outbox.push(frame('a'), 't', 0);
    expect(overflow).not.toHaveBeenCalled();
    expect(socket.sent).toEqual(['a']);

    socket.bufferedAmount = 1025;
    outbox.push(frame('b'), 't', 0);
    outbox.push(frame('c'), 't', 0);
    expect(overflow).toHaveBeenCalledTimes(1);
    expect(socket.sent).toEqual(['a']);
  });

  it('frames held by the tick\'s cork do not count against the bound: a reading client is not closed', () => {
    const { socket, outbox, overflow } = setup({ rate: 1000, burst: 1000, maxBufferedBytes: 1000 });
    // Like a TCP socket whose client reads: bytes wait in the buffer only while corked.
    let held = 0;
    Object.defineProperty(socket, 'bufferedAmount', { get: () => held });
    socket._sender.sendFrame = (list: Buffer[]) => {
      socket.sent.push(payloadText(list[0]));
      if (socket._socket.writableCorked) held += list[0].length;
    };
    socket._socket.uncork = () => {
      socket._socket.writableCorked = 0;
      held = 0;
    };
    for (const f of frames(5)) outbox.push(frame(f.padEnd(400, '.')), 't', 0);
    expect(overflow).not.toHaveBeenCalled();
    expect(socket.sent).toHaveLength(5);
  });

  it('socket bufferedAmount past maxBufferedBytes while draining: overflow, queue dropped', () => {
    const { socket, outbox, overflow, queuedNow } = setup({ rate: 10, burst: 1, maxBufferedBytes: 1024 });
    for (const f of frames(4)) outbox.push(frame(f), 't', 0);
    expect(queuedNow()).toBe(3);
    socket.bufferedAmount = 5000;
    jest.advanceTimersByTime(1000);
    expect(overflow).toHaveBeenCalledTimes(1);
    expect(socket.sent).toEqual(['f1']);
    expect(outbox.length).toBe(0);
    expect(queuedNow()).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('an overflow in the middle of a drain keeps the queued count balanced', () => {
    const { socket, outbox, overflow, queuedNow } = setup({ rate: 3000, burst: 3, maxBufferedBytes: 900 });
    // Like a real slow socket: what is sent stays buffered (with some framing overhead).
    socket._sender.sendFrame = (list: Buffer[]) => {
      socket.sent.push(payloadText(list[0]));
      socket.bufferedAmount += 150;
    };
    for (const f of frames(7)) outbox.push(frame(f.padEnd(100, '.')), 't', 0);
    jest.advanceTimersByTime(10);
    expect(overflow).toHaveBeenCalledTimes(1);
    expect(socket.sent.length).toBeGreaterThan(3);
    expect(socket.sent.length).toBeLessThan(7);
    expect(queuedNow()).toBe(0);
  });

  it('queued bytes count against maxBufferedBytes: a queue of large frames overflows', () => {
    const { socket, outbox, overflow, queuedNow } = setup({ rate: 10, burst: 1, queueMax: 100, maxBufferedBytes: 1000 });
    outbox.push(frame(Buffer.alloc(10, 'a')), 't', 0); // sent
    for (let i = 0; i < 3; i++) outbox.push(frame(Buffer.alloc(400, 'q')), 't', 0); // 1200 bytes queued: the third is admitted at 800
    expect(overflow).not.toHaveBeenCalled();
    outbox.push(frame(Buffer.alloc(1, 'x')), 't', 0);
    expect(overflow).toHaveBeenCalledTimes(1);
    expect(queuedNow()).toBe(0);
    expect(socket.sent).toHaveLength(1);
  });

  it.each<[string, number, number, boolean]>([
    // what, socket bufferedAmount, queued bytes, overflow on a control frame
    ['nothing pending', 0, 0, false],
    ['socket buffer at the bound', 1000, 0, false],
    ['socket buffer past the bound', 1001, 0, true],
    ['queue and buffer past the bound together', 600, 401, true],
  ])('control frame with %s: overflow %s', (_what, buffered, queued, overflows) => {
    const { socket, outbox, overflow } = setup({ rate: 1, burst: 1, maxBufferedBytes: 1000 });
    if (queued) {
      outbox.push(frame('sent'), 't', 0);
      socket.sent.length = 0;
      outbox.push(frame(Buffer.alloc(queued, 'q')), 't', 0);
    }
    socket.bufferedAmount = buffered;
    outbox.control('{"@type":"error"}');
    expect(overflow).toHaveBeenCalledTimes(overflows ? 1 : 0);
    expect(socket.sent).toEqual(overflows ? [] : ['{"@type":"error"}']);
  });

  it('control frames skip the pace and the queue, and stop after an overflow', () => {
    const { socket, outbox, overflow } = setup({ rate: 1, burst: 1, maxBufferedBytes: 1000 });
    outbox.push(frame('e1'), 't', 0);
    outbox.push(frame('e2'), 't', 0); // queued
    outbox.control('ack');
    expect(socket.sent).toEqual(['e1', 'ack']);
    socket.bufferedAmount = 5000;
    outbox.control('reply');
    outbox.control('reply');
    expect(overflow).toHaveBeenCalledTimes(1);
    expect(socket.sent).toEqual(['e1', 'ack']);
  });

  it('a client that never reads, asking for replies: closed once the bound is passed', () => {
    const { socket, outbox, overflow } = setup({ maxBufferedBytes: 100_000 });
    // Nothing is read: every byte sent stays buffered.
    socket.send = function (d: string | Buffer) {
      this.sent.push(d.toString());
      this.bufferedAmount += d.length;
    };
    const page = 'x'.repeat(8000);
    for (let i = 0; i < 1000; i++) outbox.control(page);
    expect(overflow).toHaveBeenCalledTimes(1);
    expect(socket.bufferedAmount).toBeLessThanOrEqual(100_000 + page.length);
  });

  it.each<[string | undefined, string[]]>([
    [undefined, []],
    ['idm', ['idm1', 'idm2']],
  ])('drop(%s) forgets the queue (keeping that topic), the session stays open', (keep, left) => {
    const { socket, outbox, overflow, queuedNow } = setup({ rate: 10, burst: 1, maxBufferedBytes: 1000 });
    outbox.push(frame('sent'), 'tree', 0);
    outbox.push(frame('t1'), 'tree', 0);
    outbox.push(frame('idm1'), 'idm', 0);
    outbox.push(frame('c1'), 'chat', 0);
    outbox.push(frame('idm2'), 'idm', 0);
    outbox.drop(keep);
    expect(outbox.length).toBe(left.length);
    expect(queuedNow()).toBe(left.length);
    outbox.push(frame('after'), 'tree', 0);
    jest.advanceTimersByTime(10_000);
    expect(socket.sent).toEqual(['sent', ...left, 'after']);
    expect(overflow).not.toHaveBeenCalled();
    // The dropped bytes no longer count: 990 more fit.
    outbox.push(frame(Buffer.alloc(990 - 'after'.length, 'z')), 'tree', 0);
    expect(overflow).not.toHaveBeenCalled();
  });

  it('close() drops the queue, stops the timer, and the queued deltas sum back to 0', () => {
    const { socket, outbox, deltas, overflow, queuedNow } = setup({ rate: 10, burst: 2 });
    for (const f of frames(7)) outbox.push(frame(f), 't', 0);
    jest.advanceTimersByTime(200);
    expect(socket.sent).toEqual(frames(4));
    expect(queuedNow()).toBe(3);

    outbox.close();
    expect(outbox.length).toBe(0);
    expect(queuedNow()).toBe(0);
    expect(deltas.at(-1)).toBe(-3);
    expect(jest.getTimerCount()).toBe(0);

    outbox.close();
    outbox.push(frame('late'), 't', 0);
    jest.advanceTimersByTime(10_000);
    expect(socket.sent).toEqual(frames(4));
    expect(queuedNow()).toBe(0);
    expect(overflow).not.toHaveBeenCalled();
  });

  it('close() with an empty queue reports no delta', () => {
    const { outbox, deltas } = setup();
    outbox.push(frame('a'), 't', 0);
    outbox.close();
    expect(deltas).toEqual([]);
  });
});
