/**
 * Who stays in a `/chat` room when access, identity or the instance changes: a member whose
 * NODE access is revoked (found at its PING), a session that closes while its PING awaits the
 * authorization, a re-subscribe as a user who may not join, an instance that shuts down.
 * Two instances on one Redis; the presence timeout is long (60 s), so that nothing here can
 * be explained by presence going stale.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { ChatSessions } from '../../src/sessions/endpoints.js';
import { Backend, Client, REDIS_URL, framesBefore, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance } from '../support/harness.js';
import { chatMessage, isError, isMessage, isUpdate, joinRoom, nextSince, roomOf, type RoomRef } from '../support/chat.js';

const tag = randomBytes(4).toString('hex');

describe('/chat membership across access, identity and instance changes', () => {
  const ch = testChannels();
  let a: Instance, b: Instance;
  let backend: Backend;
  let nodeAuth: Server;
  const clients: Client[] = [];
  /** `<login> <node>` -> answer of the authorization endpoint; missing: 404 (refused). */
  const perms = new Map<string, { read: boolean; write: boolean }>();
  /** `<login> <node>` -> the test lets the answer go; set: the endpoint holds it. */
  const hold = new Map<string, (release: () => void) => void>();
  const env = () => ({
    ...ch,
    REDIS_URL,
    CHAT_NODE_AUTH_URL: `http://127.0.0.1:${(nodeAuth.address() as { port: number }).port}/authorize`,
    CHAT_NODE_AUTH_CACHE_SECONDS: '0', // every JOIN and PING asks the endpoint
    CHAT_PRESENCE_TIMEOUT_MS: '60000',
    CHAT_USER_JOIN_RATE: '1000',
  });

  const userOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as { name: string }).name;
  const open = async (instance: Instance, name: string, workspaces: unknown[] = []) => {
    const c = await Client.subscribed(`${instance.wsUrl}/chat`, token({ name, workspaces }));
    clients.push(c);
    return c;
  };
  const ping = (c: Client, ref: RoomRef) => c.send({ '@type': 'JOIN', Room: ref, Message: { Message: 'PING' } });
  const sessionIdOf = (c: Client) => c.frames.find((f) => f['@type'] === 'subscribed')!.sessionId as string;

  beforeAll(async () => {
    nodeAuth = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const key = `${userOf((req.headers.authorization ?? '').replace(/^Bearer /, ''))} ${(JSON.parse(body || '{}') as { NodeUuid?: string }).NodeUuid}`;
        const answer = () => {
          const perm = perms.get(key);
          res.writeHead(perm ? 200 : 404, { 'Content-Type': 'application/json' }).end(JSON.stringify(perm ?? {}));
        };
        const held = hold.get(key);
        if (held) return held(answer);
        answer();
      });
    });
    await new Promise<void>((resolve) => nodeAuth.listen(0, '127.0.0.1', resolve));
    backend = new Backend();
    [a, b] = await Promise.all([startInstance(env()), startInstance(env())]);
    await waitSubscribed(backend, ch.CHANNEL_CHAT, 2);
  });

  afterEach(() => clients.splice(0).forEach((c) => c.close()));

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await backend?.close();
    await new Promise((resolve) => nodeAuth?.close(resolve));
  });

  it('takes a member whose NODE access was revoked out of the room at its next PING', async () => {
    const node = `n-${tag}-revoked`;
    const ref = { Type: 'NODE', RoomTypeObject: node };
    const [alice, bob] = [`alice-${tag}`, `bob-${tag}`];
    perms.set(`${alice} ${node}`, { read: true, write: true });
    perms.set(`${bob} ${node}`, { read: true, write: true });
    const aliceC = await open(a, alice);
    const bobC = await open(a, bob);
    const room = await joinRoom(aliceC, ref);
    await joinRoom(bobC, ref);
    const own = await joinRoom(bobC, { Type: 'USER', RoomTypeObject: bob }); // for the barrier
    // Both: bob's copy of the update must not be counted after `from` (updates are coalesced: it may come after his JOIN's answer).
    await Promise.all([aliceC, bobC].map((c) => c.next(isUpdate(room.Uuid, [alice, bob].sort()))));

    perms.set(`${bob} ${node}`, { read: false, write: false });
    const from = bobC.frames.length;
    const aliceFrom = aliceC.frames.length;
    ping(bobC, ref);
    expect(await nextSince(bobC, from, isError('node not readable'))).toMatchObject({ Room: ref });
    await nextSince(aliceC, aliceFrom, isUpdate(room.Uuid, [alice]));

    // Barrier: a message in bob's own room comes after any message of the NODE room would have.
    await backend.publish(ch.CHANNEL_CHAT, chatMessage(room.Uuid, 'after revocation'));
    await backend.publish(ch.CHANNEL_CHAT, chatMessage(own.Uuid, 'sentinel'));
    const seen = await framesBefore(bobC, from, isMessage('sentinel'));
    expect(seen.filter((f) => f.RoomUuid === room.Uuid || (roomOf(f).Uuid === room.Uuid && f['@type'] === 'ROOM_UPDATE'))).toEqual([]);
  });

  it('does not put back a session that closed while its PING awaited the authorization', async () => {
    const node = `n-${tag}-closing`;
    const ref = { Type: 'NODE', RoomTypeObject: node };
    const [alice, ghost] = [`alice-${tag}`, `ghost-${tag}`];
    perms.set(`${alice} ${node}`, { read: true, write: true });
    perms.set(`${ghost} ${node}`, { read: true, write: true });
    const aliceC = await open(a, alice);
    const ghostC = await open(a, ghost);
    const room = await joinRoom(aliceC, ref);
    await joinRoom(ghostC, ref);
    await aliceC.next(isUpdate(room.Uuid, [alice, ghost].sort()));

    const chat = a.app.get(ChatSessions);
    const session = chat.registry.get(sessionIdOf(ghostC))!;
    let release!: () => void;
    const held = new Promise<void>((resolve) => hold.set(`${ghost} ${node}`, (answer) => ((release = answer), resolve())));
    ping(ghostC, ref);
    await held; // the PING awaits the endpoint
    const handled = session.busy!;
    const aliceFrom = aliceC.frames.length;
    ghostC.close();
    await nextSince(aliceC, aliceFrom, isUpdate(room.Uuid, [alice])); // the close was handled
    hold.delete(`${ghost} ${node}`);
    release(); // the endpoint allows it: the session is gone all the same
    await handled; // the PING is done (an announcement it made would be published by now)

    expect(session.rooms.size).toBe(0);
    expect([...chat.registry.withKeys([`room:${room.Uuid}`])].map((s) => s.id)).not.toContain(session.id);
    await backend.publish(ch.CHANNEL_CHAT, chatMessage(room.Uuid, 'sentinel'));
    const seen = await framesBefore(aliceC, aliceFrom, isMessage('sentinel'));
    expect(seen.filter((f) => f['@type'] === 'ROOM_UPDATE' && roomOf(f).Users?.includes(ghost))).toEqual([]);
  });

  it('takes a session that subscribes again as a user who may not join out of the previous user\'s rooms', async () => {
    const W = ws(`w-${tag}-handover`, 'handover', 'pydiods1/handover');
    const [alice, bob, mallory] = [`alice-${tag}`, `bob-${tag}`, `mallory-${tag}`];
    const aliceC = await open(a, alice, [W]);
    const socket = await open(b, bob, [W]);
    const wroom = await joinRoom(aliceC, { Type: 'WORKSPACE', RoomTypeObject: W.uuid });
    await joinRoom(socket, { Type: 'WORKSPACE', RoomTypeObject: W.uuid });
    const userRef = { Type: 'USER', RoomTypeObject: [alice, bob].join(',') };
    const uroom = await joinRoom(socket, userRef);
    await joinRoom(aliceC, userRef);

    const from = socket.frames.length;
    socket.send({ '@type': 'subscribe', jwt: token({ name: mallory, workspaces: [] }) });
    await nextSince(socket, from, (f) => f['@type'] === 'subscribed' && f.user === mallory);
    const refusals = socket.frames.slice(from).filter((f) => f['@type'] === 'error');
    expect(refusals).toEqual(
      expect.arrayContaining([
        { '@type': 'error', error: 'workspace not in session', code: 'forbidden', Room: { Uuid: wroom.Uuid, Type: 'WORKSPACE', RoomTypeObject: W.uuid } },
        { '@type': 'error', error: 'user not named in room', code: 'forbidden', Room: { Uuid: uroom.Uuid, ...userRef } },
      ]),
    );
    const own = await joinRoom(socket, { Type: 'USER', RoomTypeObject: mallory }); // for the barrier

    const after = socket.frames.length;
    aliceC.send({ '@type': 'POST', Message: { RoomUuid: wroom.Uuid, Message: 'workspace only' } });
    aliceC.send({ '@type': 'POST', Message: { RoomUuid: uroom.Uuid, Message: 'alice and bob only' } });
    await aliceC.next(isMessage('alice and bob only'));
    await backend.publish(ch.CHANNEL_CHAT, chatMessage(own.Uuid, 'sentinel'));
    const seen = await framesBefore(socket, after, isMessage('sentinel'));
    expect(seen.filter((f) => f.RoomUuid === wroom.Uuid || f.RoomUuid === uroom.Uuid)).toEqual([]);
    socket.send({ '@type': 'POST', Message: { RoomUuid: uroom.Uuid, Message: 'still here?' } });
    await nextSince(socket, after, isError('room not joined'));
  });

  it("withdraws a stopping instance's users at once, not after the presence timeout", async () => {
    const W = ws(`w-${tag}-shutdown`, 'shutdown', 'pydiods1/shutdown');
    const ref = { Type: 'WORKSPACE', RoomTypeObject: W.uuid };
    const [alice, dave] = [`alice-${tag}`, `dave-${tag}`];
    const c = await startInstance(env());
    try {
      await waitSubscribed(backend, ch.CHANNEL_CHAT, 3);
      const aliceC = await open(a, alice, [W]);
      const room = await joinRoom(aliceC, ref);
      await joinRoom(await open(c, dave, [W]), ref);
      await aliceC.next(isUpdate(room.Uuid, [alice, dave].sort()));
      const from = aliceC.frames.length;
      const closing = c.close();
      // Within next()'s 3 s: the presence timeout (60 s) is not what removes dave.
      const update: Frame = await nextSince(aliceC, from, isUpdate(room.Uuid, [alice]));
      expect(roomOf(update).Users).toEqual([alice]);
      await closing;
    } finally {
      await c.close().catch(() => undefined);
    }
  });
});
