/**
 * Identity changes end to end (issue 8, items 5 to 7): two instances on one real Redis, real
 * sockets. What was queued for a previous identity never reaches the socket after the change;
 * a workspace deletion takes the session out of that workspace's push and chat rooms on every
 * instance; a re-subscribe with fewer rights is fully applied before the next frame.
 * Absences are proven with barriers: a later frame to the same session arrives first.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Backend, Client, REDIS_URL, ask, marker, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance } from '../support/harness.js';
import { joinRoom, roomOf } from '../support/chat.js';

const tag = randomBytes(4).toString('hex');
/** Slow pace, so that frames pile up in the outbox: 40 frames take 2 s to drain. */
const SESSION_RATE = 20;
const QUEUED = 40;

const indexOf = (c: Client, match: (f: Frame) => boolean) => c.frames.findIndex(match);

describe('identity changes on a real Redis, two instances', () => {
  const ch = testChannels();
  let a: Instance, b: Instance;
  let backend: Backend;
  const clients: Client[] = [];

  const open = async (instance: Instance, path: string, jwt: string) => {
    const c = await Client.subscribed(`${instance.wsUrl}${path}`, jwt);
    clients.push(c);
    return c;
  };
  const joinChat = joinRoom;
  const push = (cmd: object) => backend.publish(ch.CHANNEL_PUSH, cmd);
  const chatEvent = (e: object) => backend.publish(ch.CHANNEL_CHAT, e);
  /** Fills alice's outbox: QUEUED frames to user `user`, then waits until an unpaced witness got a later one (all handed over). */
  async function queueFor(user: string, witness: Client, witnessUser: string, label: string): Promise<void> {
    for (let n = 0; n < QUEUED; n++) await push({ pushToUser: user, payload: { q: label, n } });
    await push({ pushToUser: witnessUser, payload: { witness: label } });
    await witness.next((f) => f.witness === label);
  }

  beforeAll(async () => {
    backend = new Backend();
    const env = { ...ch, REDIS_URL, SESSION_RATE: String(SESSION_RATE), SESSION_BURST: '1' };
    [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
    for (const c of [ch.CHANNEL_PUSH, ch.CHANNEL_CHAT, ch.CHANNEL_IDM]) await waitSubscribed(backend, c, 2);
  });

  afterEach(() => clients.splice(0).forEach((c) => c.close()));

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await backend?.close();
  });

  describe('item 5: what was queued for the previous identity', () => {
    it('is not delivered after unsubscribe', async () => {
      const alice = await open(a, '/ws', token({ name: `alice-${tag}` }));
      const witness = await open(a, '/ws', token({ name: `witness-${tag}` }));
      await queueFor(`alice-${tag}`, witness, `witness-${tag}`, 'u');
      expect(alice.frames.filter((f) => f.q === 'u').length).toBeLessThan(QUEUED / 2); // most are still queued

      alice.send({ '@type': 'unsubscribe' });
      await marker(alice);
      const after = alice.frames.length;
      // Barrier: subscribe again and get a later frame; anything left queued would come before it.
      await ask(alice, { '@type': 'subscribe', jwt: token({ name: `alice-${tag}` }) }, (f) => f['@type'] === 'subscribed');
      await push({ pushToUser: `alice-${tag}`, payload: { sentinel: 'u' } });
      await alice.next((f) => f.sentinel === 'u');
      expect(alice.frames.slice(after).filter((f) => f.q === 'u')).toEqual([]);
    });

    it('is not delivered after the ack of a subscribe as another user on the same socket', async () => {
      const socket = await open(a, '/ws', token({ name: `alice-${tag}` }));
      const witness = await open(a, '/ws', token({ name: `witness-${tag}` }));
      await queueFor(`alice-${tag}`, witness, `witness-${tag}`, 'o');

      await ask(socket, { '@type': 'subscribe', jwt: token({ name: `bob-${tag}` }) }, (f) => f['@type'] === 'subscribed' && f.user === `bob-${tag}`);
      const ack = indexOf(socket, (f) => f['@type'] === 'subscribed' && f.user === `bob-${tag}`);
      await push({ pushToUser: `bob-${tag}`, payload: { sentinel: 'o' } });
      await socket.next((f) => f.sentinel === 'o');
      expect(socket.frames.slice(ack).filter((f) => f.q === 'o')).toEqual([]);
    });

    it('is all delivered, in order, across a token refresh with the same rights (lossless renewal)', async () => {
      const W = ws(`w5-${tag}`, 'five', 'ds/five');
      const alice = await open(a, '/ws', token({ name: `alice-${tag}`, workspaces: [W] }));
      const witness = await open(a, '/ws', token({ name: `witness-${tag}` }));
      await queueFor(`alice-${tag}`, witness, `witness-${tag}`, 'r');

      await ask(alice, { '@type': 'subscribe', jwt: token({ name: `alice-${tag}`, workspaces: [W], fresh: 1 }) }, (f) => f['@type'] === 'subscribed');
      await push({ pushToUser: `alice-${tag}`, payload: { sentinel: 'r' } });
      await alice.next((f) => f.sentinel === 'r', 10_000);
      expect(alice.frames.filter((f) => f.q === 'r').map((f) => f.n)).toEqual([...Array(QUEUED).keys()]);
    });
  });

  describe('item 6: a workspace deletion reaches push and chat rooms on every instance', () => {
    it('alice on instance B leaves workspace:<w> and the workspace chat room; bob on A leaves it too', async () => {
      const W = ws(`w6-${tag}`, 'six', 'ds/six');
      const alice = `alice-${tag}`;
      const aliceWs = await open(b, '/ws', token({ name: alice, workspaces: [W] }));
      const aliceChat = await open(b, '/chat', token({ name: alice, workspaces: [W] }));
      const bobChat = await open(a, '/chat', token({ name: `bob-${tag}`, workspaces: [W] }));
      await ask(aliceWs, { '@type': 'joinRoom', room: `workspace:${W.uuid}` }, (f) => f['@type'] === 'room' && f.joined === true);
      const wroom = await joinChat(aliceChat, { Type: 'WORKSPACE', RoomTypeObject: W.uuid });
      expect(wroom.Uuid).toEqual(expect.any(String));
      expect((await joinChat(bobChat, { Type: 'WORKSPACE', RoomTypeObject: W.uuid })).Uuid).toBe(wroom.Uuid);
      const own = await joinChat(aliceChat, { Type: 'USER', RoomTypeObject: alice }); // for the chat barrier
      // A backend grant too (the backend puts her sessions in a room of that workspace).
      await push({ subscribeUser: alice, room: `workspace:${W.uuid}/granted` });
      // Still in: the room's messages and pushes arrive.
      await push({ pushToRoom: `workspace:${W.uuid}/granted`, payload: { before: 'granted' } });
      await push({ pushToRoom: `workspace:${W.uuid}`, payload: { before: 6 } });
      await aliceWs.next((f) => f.before === 6);
      await aliceWs.next((f) => f.before === 'granted');

      await backend.publish(ch.CHANNEL_IDM, { Type: 'DELETE', Workspace: { UUID: W.uuid, Slug: 'six' } });
      await aliceWs.next((f) => f['@type'] === 'idm' && f.Type === 'DELETE');
      const revoked = (f: Frame) => f['@type'] === 'error' && f.error === 'workspace not in session' && roomOf(f).Uuid === wroom.Uuid;
      await aliceChat.next(revoked);
      await bobChat.next(revoked);

      // Push: the room's later pushes do not reach alice (barrier: a later push to her user).
      const pushStart = aliceWs.frames.length;
      await push({ pushToRoom: `workspace:${W.uuid}`, payload: { after: 6 } });
      await push({ pushToRoom: `workspace:${W.uuid}/granted`, payload: { after: 6 } });
      await push({ pushToUser: alice, payload: { sentinel: 6 } });
      await aliceWs.next((f) => f.sentinel === 6);
      expect(aliceWs.frames.slice(pushStart).filter((f) => f.after === 6)).toEqual([]);

      // Chat: a message published in the workspace room does not reach her (barrier: one in her own room).
      const chatStart = aliceChat.frames.length;
      const msg = (RoomUuid: string, Message: string) => ({ Message: { Uuid: randomBytes(8).toString('hex'), RoomUuid, Message, Author: 'backend', Timestamp: '1' } });
      await chatEvent(msg(wroom.Uuid, 'after-6'));
      await chatEvent(msg(own.Uuid, 'sentinel-6'));
      await aliceChat.next((f) => f.Message === 'sentinel-6');
      expect(aliceChat.frames.slice(chatStart).filter((f) => f.Message === 'after-6')).toEqual([]);

      // Nor can she post or read the history there.
      const notJoined = (f: Frame) => f['@type'] === 'error' && f.error === 'room not joined';
      await ask(aliceChat, { '@type': 'POST', Message: { RoomUuid: wroom.Uuid, Message: 'still here?' } }, notJoined);
      // HISTORY from a non-member gets no answer at all, as in Cells (barrier: the marker's answer).
      const historyStart = aliceChat.frames.length;
      aliceChat.send({ '@type': 'HISTORY', Room: { Type: 'WORKSPACE', RoomTypeObject: W.uuid } });
      await marker(aliceChat);
      expect(aliceChat.frames.slice(historyStart).filter((f) => f['@type'] === 'ROOM_UPDATE' || f.RoomUuid === wroom.Uuid)).toEqual([]);
    });
  });

  describe('item 7: a re-subscribe with fewer rights is applied before the next frame', () => {
    it('POSTs right behind a subscribe that lacks the workspace are all refused', async () => {
      const W = ws(`w7-${tag}`, 'seven', 'ds/seven');
      const alice = `alice-${tag}`;
      const aliceChat = await open(a, '/chat', token({ name: alice, workspaces: [W] }));
      const bobChat = await open(b, '/chat', token({ name: `bob-${tag}`, workspaces: [W] }));
      const room = await joinChat(aliceChat, { Type: 'WORKSPACE', RoomTypeObject: W.uuid });
      await joinChat(bobChat, { Type: 'WORKSPACE', RoomTypeObject: W.uuid });

      const start = aliceChat.frames.length;
      aliceChat.send({ '@type': 'subscribe', jwt: token({ name: alice, workspaces: [] }) });
      for (let i = 0; i < 10; i++) aliceChat.send({ '@type': 'POST', Message: { RoomUuid: room.Uuid, Message: `raced-${i}` } });
      await marker(aliceChat);
      const answers = aliceChat.frames.slice(start);
      expect(answers.filter((f) => f['@type'] === 'error' && f.error === 'room not joined')).toHaveLength(10);
      // The ack comes once the rooms were re-checked: the refusal of the room comes before it.
      const ack = answers.findIndex((f) => f['@type'] === 'subscribed');
      const left = answers.findIndex((f) => f['@type'] === 'error' && f.error === 'workspace not in session');
      expect(left).toBeGreaterThanOrEqual(0);
      expect(left).toBeLessThan(ack);

      // Barrier for bob: a later message in the room reaches him after any of alice's would have.
      await chatEvent({ Message: { Uuid: randomBytes(8).toString('hex'), RoomUuid: room.Uuid, Message: 'sentinel-7', Author: 'backend', Timestamp: '1' } });
      await bobChat.next((f) => f.Message === 'sentinel-7');
      expect(bobChat.frames.filter((f) => String(f.Message).startsWith('raced-'))).toEqual([]);
    });
  });
});
