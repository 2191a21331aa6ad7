/**
 * The client's resume logic (PROTOCOL 6) in every order a server may answer in, with a
 * scripted socket and fake timers: the service does not resume yet, so the recovered path
 * is proven here and the reset path also against the real service (test/client).
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Switchboard, type WebSocketConstructor, type WebSocketLike } from '../../client/src/index.js';

class ScriptedSocket implements WebSocketLike {
  static all: ScriptedSocket[] = [];
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  constructor(readonly url: string) {
    ScriptedSocket.all.push(this);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000, reason = ''): void {
    this.onclose?.({ code, reason });
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};
const ack = { '@type': 'subscribed', sessionId: 's', user: 'alice', workspaces: [] };
const node = (offset?: string) => ({ Type: 'DELETE', Source: { Uuid: 'n', Path: 'p/a' }, ...(offset ? { '@offset': offset } : {}) });
const RESUME_TIMEOUT = 5000;

type Step = Record<string, unknown> | number; // a frame from the server, or milliseconds passing

describe('resume after a reconnect', () => {
  let client: Switchboard;
  let resets: string[];

  beforeEach(async () => {
    jest.useFakeTimers();
    ScriptedSocket.all = [];
    resets = [];
    client = new Switchboard({ url: 'ws://sb.test', token: () => 'jwt', WebSocket: ScriptedSocket as unknown as WebSocketConstructor, random: () => 0, resumeTimeoutMs: RESUME_TIMEOUT, autoConnect: true });
    client.on('reset', (why) => resets.push(why));
    await flush();
    const first = ScriptedSocket.all[0];
    first.open();
    first.deliver(ack);
    first.deliver(node('100-1'));
    first.close(1006);
    jest.advanceTimersByTime(1000); // the first retry (random 0: 250 ms)
    await flush();
  });

  afterEach(() => {
    client.close();
    jest.useRealTimers();
  });

  it('subscribes with resumeFrom = the last offset seen, and never resumed on the first connect', () => {
    expect(ScriptedSocket.all).toHaveLength(2);
    ScriptedSocket.all[1].open();
    expect(ScriptedSocket.all[0].sent[0]).toEqual({ '@type': 'subscribe', jwt: 'jwt', heartbeat: true });
    expect(ScriptedSocket.all[1].sent[0]).toEqual({ '@type': 'subscribe', jwt: 'jwt', heartbeat: true, resumeFrom: '100-1' });
  });

  it.each<[string, Step[], string[], string]>([
    ['ack, replay, resumed: recovered', [ack, node('100-2'), node('100-3'), { '@type': 'resumed', recovered: true, replayed: 2 }, 60_000], [], '100-3'],
    ['replay, resumed, then ack: recovered', [node('100-2'), { '@type': 'resumed', recovered: true, replayed: 1 }, ack, 60_000], [], '100-2'],
    ['a replay slower than the timeout, frames still coming: recovered', [ack, 4000, node('100-2'), 4000, node('100-3'), 4000, { '@type': 'resumed', recovered: true, replayed: 2 }, 60_000], [], '100-3'],
    ['resumed recovered:false: reset', [ack, { '@type': 'resumed', recovered: false }], ['the server could not resume'], '100-1'],
    ['recovered:false before the ack: reset', [{ '@type': 'resumed', recovered: false }, ack, 60_000], ['the server could not resume'], '100-1'],
    ['recovered:false with its reason: the reset says it', [ack, { '@type': 'resumed', recovered: false, reason: 'trimmed' }], ['the server could not resume (trimmed)'], '100-1'],
    ['ack and no resumed at all: nothing before the timeout', [ack, RESUME_TIMEOUT - 1], [], '100-1'],
    ['ack and no resumed at all: reset after the timeout', [ack, RESUME_TIMEOUT, 60_000], ['no resumed frame: the server did not resume'], '100-1'],
    ['ack then a live event without @offset: reset at once', [ack, node()], ['the server does not resume'], '100-1'],
    ['a late resumed after the reset does not reset twice', [ack, RESUME_TIMEOUT, { '@type': 'resumed', recovered: false }], ['no resumed frame: the server did not resume'], '100-1'],
  ])('%s', async (_name, steps, expectedResets, lastOffset) => {
    const socket = ScriptedSocket.all[1];
    socket.open();
    for (const step of steps) {
      if (typeof step === 'number') jest.advanceTimersByTime(step);
      else socket.deliver(step);
    }
    expect(resets).toEqual(expectedResets);
    expect(client.lastOffset).toBe(lastOffset);
  });

  it('delivers replayed events to the handlers in order, as live ones', () => {
    const seen: string[] = [];
    client.on('node', (e) => seen.push(e['@offset'] ?? 'none'));
    const socket = ScriptedSocket.all[1];
    socket.open();
    [ack, node('100-2'), node('100-3'), { '@type': 'resumed', recovered: true, replayed: 2 }, node('100-4')].forEach((f) => socket.deliver(f));
    expect(seen).toEqual(['100-2', '100-3', '100-4']);
  });
});

describe('resume before the first event (the ack\'s @offset)', () => {
  afterEach(() => void jest.useRealTimers());

  /** Connects, gets `first` as the ack, drops (1006), reconnects: what the second subscribe says, and the resets. */
  async function dropBeforeAnyEvent(first: Record<string, unknown>) {
    jest.useFakeTimers();
    ScriptedSocket.all = [];
    const resets: string[] = [];
    const client = new Switchboard({ url: 'ws://sb.test', token: () => 'jwt', WebSocket: ScriptedSocket as unknown as WebSocketConstructor, random: () => 0, autoConnect: true });
    client.on('reset', (why) => resets.push(why));
    await flush();
    ScriptedSocket.all[0].open();
    ScriptedSocket.all[0].deliver(first);
    ScriptedSocket.all[0].close(1006);
    jest.advanceTimersByTime(1000);
    await flush();
    ScriptedSocket.all[1].open();
    ScriptedSocket.all[1].deliver(ack);
    client.close();
    return { subscribe: ScriptedSocket.all[1].sent[0], resets };
  }

  it.each<[string, Record<string, unknown>, unknown, string[]]>([
    ['an ack with @offset: the reconnect resumes from it', { ...ack, '@offset': '100-7@e' }, '100-7@e', []],
    ['an ack without @offset (an empty history, an older server): nothing to resume from, a reset', ack, undefined, ['reconnected with no offset to resume from']],
  ])('%s', async (_name, first, resumeFrom, expectedResets) => {
    const { subscribe, resets } = await dropBeforeAnyEvent(first);
    expect(subscribe.resumeFrom).toEqual(resumeFrom);
    expect(resets).toEqual(expectedResets);
  });
});
