import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { API_KEY, Backend, Client, REDIS_URL, ask, framesBefore, metricValue, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance } from '../support/harness.js';

const W1 = ws('w1', 'projects', 'pydiods1/projects');
const W2 = ws('w2', 'common', 'pydiods1/common');

let seq = 0;
/** A payload no other test sends, and a matcher for it. */
const mark = () => `m${++seq}-${Date.now()}`;
const has = (m: string) => (f: Frame) => f.mark === m;
const roomReply = (room: string | null) => (f: Frame) => f['@type'] === 'room' && f.room === room;

describe('/ws generic push over a real Redis (PROTOCOL 5)', () => {
  let app: Instance;
  let backend: Backend;
  let ch: Record<string, string>;
  let alice1: Client, alice2: Client, bob: Client;
  const opened: Client[] = [];
  const aliceToken = () => token({ name: 'alice', workspaces: [W1] });
  const bobToken = () => token({ name: 'bob', workspaces: [W2] });

  const connect = async (jwt: string) => {
    const c = await Client.subscribed(`${app.wsUrl}/ws`, jwt);
    opened.push(c);
    return c;
  };
  const sessionId = (c: Client) => c.frames.find((f) => f['@type'] === 'subscribed')!.sessionId as string;
  /**
   * Barrier: a push to the session itself, after the push that must (not) arrive; resolves with
   * everything the session received before it.
   */
  const upToSentinel = async (c: Client) => {
    const sentinel = mark();
    await backend.publish(ch.CHANNEL_PUSH, { pushToSession: sessionId(c), payload: { sentinel } });
    return framesBefore(c, 0, (f) => f.sentinel === sentinel);
  };
  /** Sends a new subscribe and waits for its ack (the gateway runs recheck right after). */
  const resubscribe = (c: Client, jwt: string) => ask(c, { '@type': 'subscribe', jwt }, (f) => f['@type'] === 'subscribed');
  const join = (c: Client, room: string, form: 'type' | 'websocket-push' = 'type') =>
    ask(c, form === 'type' ? { '@type': 'joinRoom', room } : { joinRoom: room }, (f) => roomReply(room)(f) && !('left' in f));
  const leave = (c: Client, room: string, form: 'type' | 'websocket-push' = 'type') =>
    ask(c, form === 'type' ? { '@type': 'leaveRoom', room } : { leaveRoom: room }, (f) => roomReply(room)(f) && f.left === true);
  /** Asserts who got the frame marked `m` (exactly once) and who did not get it at all. */
  const expectDelivered = async (m: string, to: Client[], notTo: Client[]) => {
    for (const c of to) await c.next(has(m));
    for (const c of notTo) expect((await upToSentinel(c)).filter(has(m))).toEqual([]);
    for (const c of to) expect((await upToSentinel(c)).filter(has(m))).toHaveLength(1);
  };
  const rejectedPush = () => metricValue(app.url, 'switchboard_bus_rejected_total{topic="push",reason="schema"}');

  beforeAll(async () => {
    ch = testChannels();
    backend = new Backend();
    app = await startInstance({ ...ch, REDIS_URL, PUSH_OPEN_ROOMS: 'slidecast/*, lobby-?', PUSH_MAX_ROOMS_PER_SESSION: '4' });
    await waitSubscribed(backend, ch.CHANNEL_PUSH);
    await waitSubscribed(backend, ch.CHANNEL_PUSH_COMPAT);
    alice1 = await connect(aliceToken());
    alice2 = await connect(aliceToken());
    bob = await connect(bobToken());
  });

  afterAll(async () => {
    for (const c of opened) c.close();
    await app?.close();
    await backend?.close();
  });

  describe('websocket-push publishers, unchanged', () => {
    it('pushToUser reaches every tab of that user, payload as-is', async () => {
      await backend.publish(ch.CHANNEL_PUSH_COMPAT, { pushToUser: 'alice', payload: { some: 'info' } });
      const isInfo = (f: Frame) => f.some === 'info';
      expect(await alice1.next(isInfo)).toEqual({ some: 'info' });
      expect(await alice2.next(isInfo)).toEqual({ some: 'info' });
      expect((await upToSentinel(bob)).filter(isInfo)).toEqual([]);
      expect((await upToSentinel(alice1)).filter(isInfo)).toHaveLength(1);
      expect((await upToSentinel(alice2)).filter(isInfo)).toHaveLength(1);
    });

    it('pushToUser with tabWindowId reaches that tab only (the sessionId of the ack)', async () => {
      const m = mark();
      await backend.publish(ch.CHANNEL_PUSH_COMPAT, { pushToUser: 'alice', tabWindowId: sessionId(alice2), payload: { mark: m } });
      await expectDelivered(m, [alice2], [alice1, bob]);
    });

    it('pushToRoom reaches the tabs that sent {joinRoom}, until they send {leaveRoom}', async () => {
      expect(await join(alice1, 'slidecast/abc123', 'websocket-push')).toEqual({ '@type': 'room', room: 'slidecast/abc123', joined: true });
      expect(await join(bob, 'slidecast/abc123', 'websocket-push')).toMatchObject({ joined: true });
      const m = mark();
      await backend.publish(ch.CHANNEL_PUSH_COMPAT, { pushToRoom: 'slidecast/abc123', payload: { mark: m } });
      await expectDelivered(m, [alice1, bob], [alice2]);

      expect(await leave(bob, 'slidecast/abc123', 'websocket-push')).toEqual({ '@type': 'room', room: 'slidecast/abc123', joined: false, left: true });
      const after = mark();
      await backend.publish(ch.CHANNEL_PUSH_COMPAT, { pushToRoom: 'slidecast/abc123', payload: { mark: after } });
      await expectDelivered(after, [alice1], [bob, alice2]);
      await leave(alice1, 'slidecast/abc123');
    });
  });

  describe.each([
    ['CHANNEL_PUSH', 'bare'],
    ['CHANNEL_PUSH_COMPAT', 'envelope'],
  ] as const)('every target form on %s (%s payload)', (channelVar, form) => {
    let room: string;
    beforeAll(async () => {
      room = `slidecast/targets-${channelVar}`;
      await join(alice2, room);
      await join(bob, room);
    });
    afterAll(async () => {
      await leave(alice2, room);
      await leave(bob, room);
    });

    const cases: Array<[string, () => object, () => Client[]]> = [
      ['pushToUser', () => ({ pushToUser: 'bob' }), () => [bob]],
      ['pushToRoom', () => ({ pushToRoom: room }), () => [alice2, bob]],
      ['pushToSession', () => ({ pushToSession: sessionId(alice1) }), () => [alice1]],
      ['tabWindowId alone', () => ({ tabWindowId: sessionId(bob) }), () => [bob]],
      ['pushToUser + pushToSession filter', () => ({ pushToUser: 'alice', pushToSession: sessionId(alice1) }), () => [alice1]],
      ['pushToRoom + tabWindowId filter', () => ({ pushToRoom: room, tabWindowId: sessionId(alice2) }), () => [alice2]],
      ['pushToRoom + filter on a session not in the room', () => ({ pushToRoom: room, tabWindowId: sessionId(alice1) }), () => []],
      ['pushToUser + filter on another user session', () => ({ pushToUser: 'alice', pushToSession: sessionId(bob) }), () => []],
      ['unknown user', () => ({ pushToUser: 'nobody' }), () => []],
      ['unknown session', () => ({ pushToSession: 'no-such-session' }), () => []],
    ];
    it.each(cases)('%s', async (_name, target, expected) => {
      const m = mark();
      await backend.publish(ch[channelVar], { ...target(), payload: { mark: m } }, form);
      const to = expected();
      await expectDelivered(m, to, [alice1, alice2, bob].filter((c) => !to.includes(c)));
    });
  });

  describe('client room commands', () => {
    it('answers the @type forms and the websocket-push forms alike', async () => {
      const carol = await connect(aliceToken());
      expect(await join(carol, 'lobby-1')).toEqual({ '@type': 'room', room: 'lobby-1', joined: true });
      expect(await join(carol, 'lobby-2', 'websocket-push')).toEqual({ '@type': 'room', room: 'lobby-2', joined: true });
      expect(await leave(carol, 'lobby-1', 'websocket-push')).toEqual({ '@type': 'room', room: 'lobby-1', joined: false, left: true });
      expect(await leave(carol, 'lobby-2')).toEqual({ '@type': 'room', room: 'lobby-2', joined: false, left: true });
      const m = mark();
      await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: 'lobby-1', payload: { mark: m } });
      await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: 'lobby-2', payload: { mark: m } });
      expect((await upToSentinel(carol)).filter(has(m))).toEqual([]);
    });

    it('admits user:<self> and workspace:<held>/..., and refuses the rest with a reason', async () => {
      const carol = await connect(aliceToken());
      expect(await join(carol, 'user:alice')).toMatchObject({ joined: true });
      expect(await join(carol, 'workspace:w1/reports')).toMatchObject({ joined: true });
      const refused: Array<[string, string]> = [
        ['user:bob', 'room of another user'],
        ['workspace:w2', 'workspace not held'],
        ['workspace:w2/reports', 'workspace not held'],
        ['secret-room', 'room not open'],
        ['slidecast', 'room not open'],
        ['slidecast/' + 'x'.repeat(200), 'room name must be 1 to 200 characters'],
      ];
      for (const [room, reason] of refused) {
        expect(await join(carol, room)).toEqual({ '@type': 'room', room, joined: false, reason });
      }
      expect(await ask(carol, { '@type': 'joinRoom', room: 42 }, roomReply(null))).toEqual({ '@type': 'room', room: null, joined: false, reason: 'room must be a string' });

      // Bob may be in user:bob and workspace:w2: the pushes do go out, but never to carol.
      expect(await join(bob, 'user:bob')).toMatchObject({ joined: true });
      expect(await join(bob, 'workspace:w2')).toMatchObject({ joined: true });
      const m = mark();
      for (const [room] of refused) await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: room.slice(0, 200), payload: { mark: m } });
      await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: 'workspace:w1/reports', payload: { mark: m } });
      await carol.next(has(m));
      await bob.next(has(m));
      expect((await upToSentinel(carol)).filter(has(m))).toHaveLength(1); // only the workspace:w1/reports one
      expect((await upToSentinel(bob)).filter(has(m))).toHaveLength(2); // user:bob and workspace:w2
      await leave(bob, 'user:bob');
      await leave(bob, 'workspace:w2');
    });

    it('refuses a room beyond PUSH_MAX_ROOMS_PER_SESSION', async () => {
      const carol = await connect(aliceToken());
      for (const room of ['lobby-a', 'lobby-b', 'lobby-c', 'lobby-d']) expect(await join(carol, room)).toMatchObject({ joined: true });
      expect(await join(carol, 'lobby-e')).toEqual({ '@type': 'room', room: 'lobby-e', joined: false, reason: 'too many rooms' });
      expect(await join(carol, 'lobby-a')).toMatchObject({ joined: true }); // already in: no extra room
      await leave(carol, 'lobby-a');
      expect(await join(carol, 'lobby-e')).toMatchObject({ joined: true });
    });

    it('refuses rooms before subscribe', async () => {
      const anon = await Client.connect(`${app.wsUrl}/ws`);
      opened.push(anon);
      anon.send({ joinRoom: 'slidecast/abc123' });
      expect(await anon.next(roomReply('slidecast/abc123'))).toEqual({ '@type': 'room', room: 'slidecast/abc123', joined: false, reason: 'not subscribed' });
    });

    it('handles frames in order: a join sent right behind subscribe waits for it', async () => {
      const eager = await Client.connect(`${app.wsUrl}/ws`);
      opened.push(eager);
      eager.send({ '@type': 'subscribe', jwt: aliceToken() });
      eager.send({ joinRoom: 'slidecast/eager' });
      expect(await eager.next(roomReply('slidecast/eager'))).toEqual({ '@type': 'room', room: 'slidecast/eager', joined: true });
      expect(eager.frames[0]['@type']).toBe('subscribed');
    });

    it('drops the rooms a new identity no longer admits, and all rooms on unsubscribe', async () => {
      const carol = await connect(aliceToken());
      await join(carol, 'user:alice');
      await join(carol, 'slidecast/keep');
      await resubscribe(carol, bobToken());
      expect(await carol.next((f) => roomReply('user:alice')(f) && f.left === true)).toEqual({
        '@type': 'room',
        room: 'user:alice',
        joined: false,
        left: true,
        reason: 'room of another user',
      });
      const m = mark();
      await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: 'user:alice', payload: { mark: m } });
      await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: 'slidecast/keep', payload: { mark: m } });
      await carol.next(has(m));
      const seen = await upToSentinel(carol);
      expect(seen.filter(has(m))).toHaveLength(1); // slidecast/keep is still open to bob
      expect(seen.filter(roomReply('slidecast/keep'))).toHaveLength(1); // just the join reply

      carol.send({ '@type': 'unsubscribe' });
      await carol.next((f) => roomReply('slidecast/keep')(f) && f.reason === 'not subscribed');
      const gone = mark();
      await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: 'slidecast/keep', payload: { mark: gone } });
      await backend.publish(ch.CHANNEL_PUSH, { pushToSession: sessionId(carol), payload: { mark: gone } });
      // Both were handled before a later push to bob; then carol subscribes again for her barrier.
      const witness = mark();
      await backend.publish(ch.CHANNEL_PUSH, { pushToUser: 'bob', payload: { mark: witness } });
      await bob.next(has(witness));
      await resubscribe(carol, bobToken());
      expect((await upToSentinel(carol)).filter(has(gone))).toEqual([]);
    });
  });

  describe('server-side subscriptions (the backend decides)', () => {
    it('subscribeUser puts every session of the user in any room, silently; unsubscribeUser takes them out', async () => {
      const room = 'team/secret'; // not open to clients: the backend is trusted
      await backend.publish(ch.CHANNEL_PUSH, { subscribeUser: 'alice', room });
      const m = mark();
      await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: room, payload: { mark: m } });
      await expectDelivered(m, [alice1, alice2], [bob]);
      expect(alice1.frames.filter(roomReply(room))).toEqual([]); // grants stay silent

      await backend.publish(ch.CHANNEL_PUSH_COMPAT, { unsubscribeUser: 'alice', room, tabWindowId: sessionId(alice1) });
      const m2 = mark();
      await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: room, payload: { mark: m2 } });
      await expectDelivered(m2, [alice2], [alice1, bob]);

      await backend.publish(ch.CHANNEL_PUSH, { unsubscribeUser: 'alice', room });
      const m3 = mark();
      await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: room, payload: { mark: m3 } });
      await expectDelivered(m3, [], [alice1, alice2, bob]);
    });

    it('subscribeUser with a session filter subscribes that session only', async () => {
      const room = 'team/one-tab';
      await backend.publish(ch.CHANNEL_PUSH_COMPAT, { subscribeUser: 'alice', room, pushToSession: sessionId(alice2) });
      const m = mark();
      await backend.publish(ch.CHANNEL_PUSH_COMPAT, { pushToRoom: room, payload: { mark: m } });
      await expectDelivered(m, [alice2], [alice1, bob]);
      await backend.publish(ch.CHANNEL_PUSH, { unsubscribeUser: 'alice', room });
    });

    it('keeps a granted room across a token refresh, drops it when the session becomes another user', async () => {
      const carol = await connect(aliceToken());
      const room = `team/refresh-${sessionId(carol)}`;
      await backend.publish(ch.CHANNEL_PUSH, { subscribeUser: 'alice', room, tabWindowId: sessionId(carol) });

      await resubscribe(carol, aliceToken());
      const m = mark();
      await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: room, payload: { mark: m } });
      await carol.next(has(m));

      await resubscribe(carol, bobToken());
      const m2 = mark();
      await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: room, payload: { mark: m2 } });
      const seen = await upToSentinel(carol);
      expect(seen.filter(has(m2))).toEqual([]);
      expect(seen.filter(roomReply(room))).toEqual([]); // grants stay silent
    });
  });

  it('counts garbage on both push channels as rejected and still delivers the next push', async () => {
    const before = await rejectedPush();
    const garbage = [
      'not json',
      '{"pushToUser":',
      '42',
      'null',
      '[]',
      '{"payload":{"a":1}}',
      '{"pushToUser":"alice"}',
      '{"pushToUser":7,"payload":1}',
      '{"pushToUser":"alice","pushToRoom":"r","payload":1}',
      '{"subscribeUser":"alice"}',
      JSON.stringify({ pushToRoom: 'a\u0001b', payload: 1 }),
    ];
    for (const channel of [ch.CHANNEL_PUSH, ch.CHANNEL_PUSH_COMPAT]) for (const g of garbage) await backend.publish(channel, g);
    const m = mark();
    await backend.publish(ch.CHANNEL_PUSH_COMPAT, { pushToUser: 'bob', payload: { mark: m } });
    await backend.publish(ch.CHANNEL_PUSH, { pushToUser: 'bob', payload: { mark: m } });
    await bob.next(has(m));
    expect((await upToSentinel(bob)).filter(has(m))).toHaveLength(2);
    expect((await rejectedPush()) - before).toBe(2 * garbage.length);
  });

  describe('POST /api/publish', () => {
    const post = (body: unknown, key = API_KEY) =>
      fetch(`${app.url}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });

    it.each(['CHANNEL_PUSH', 'CHANNEL_PUSH_COMPAT'])('delivers a push command on %s', async (channelVar) => {
      const m = mark();
      const res = await post({ channel: ch[channelVar], data: { pushToUser: 'alice', payload: { mark: m } } });
      expect(res.status).toBe(202);
      await expectDelivered(m, [alice1, alice2], [bob]);
    });

    it('answers 400 with the reason for a bad push command', async () => {
      const res = await post({ channel: ch.CHANNEL_PUSH, data: { pushToUser: 'alice' } });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toContain('push command needs a payload');
      const both = await post({ channel: ch.CHANNEL_PUSH_COMPAT, data: { pushToUser: 'alice', pushToRoom: 'r', payload: 1 } });
      expect(both.status).toBe(400);
    });
  });
});
