/**
 * `/chat` end to end: one instance on a real Redis, real sockets, a real little HTTP server
 * answering the NODE authorization. Rooms persist in Redis across runs, so every room is
 * named with a tag unique to this run.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Backend, Client, REDIS_URL, ask, framesBefore, marker, since, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance } from '../support/harness.js';
import { chatMessage, isError, isMessage, isUpdate, joinRoom, nextSince, roomOf } from '../support/chat.js';

const tag = randomBytes(4).toString('hex');
const PRESENCE_TIMEOUT_MS = 600;


describe('/chat on a real Redis', () => {
  let app: Instance;
  let backend: Backend;
  let nodeAuth: Server;
  let ch: Record<string, string>;
  const clients: Client[] = [];
  const timers: NodeJS.Timeout[] = [];
  /** token -> login, so that the authorization server knows who asks. */
  const logins = new Map<string, string>();
  /** `<login> <node>` -> answer of the authorization server; missing: 404. */
  const nodePerms = new Map<string, { read: boolean; write: boolean }>();
  const nodeCalls: Array<{ authorization?: string; node?: string }> = [];
  const tokenOf = new Map<Client, string>();

  async function connect(name: string, workspaces: unknown[] = [], path = '/chat'): Promise<Client> {
    const jwt = token({ name, workspaces });
    logins.set(jwt, name);
    const c = await Client.subscribed(`${app.wsUrl}${path}`, jwt);
    clients.push(c);
    tokenOf.set(c, jwt);
    return c;
  }

  const join = joinRoom;

  let sentinels = 0;
  /**
   * Barrier: publishes a message in the room, like a backend; `before(c, from)` resolves with
   * what `c` (a member) received from index `from` up to it.
   */
  async function sentinelIn(roomUuid: string): Promise<(c: Client, from?: number) => Promise<Frame[]>> {
    const text = `sentinel-${tag}-${++sentinels}`;
    await backend.publish(ch.CHANNEL_CHAT, chatMessage(roomUuid, text));
    return (c, from = 0) => framesBefore(c, from, isMessage(text));
  }
  /** A room of the user's own, for barriers on a session that is in no other room. */
  const ownRoom = async (c: Client, name: string) => (await join(c, { Type: 'USER', RoomTypeObject: `${name},${tag}-own` })).Uuid;

  /** Heartbeat as Cells sends it, faster than the test's presence timeout. */
  function heartbeat(c: Client, room: object): () => void {
    const timer = setInterval(() => c.send({ '@type': 'JOIN', Room: room, Message: { Message: 'PING' } }), PRESENCE_TIMEOUT_MS / 4);
    timers.push(timer);
    return () => clearInterval(timer);
  }

  const post = (c: Client, RoomUuid: string, Message: string, type = 'POST') => c.send({ '@type': type, Message: { RoomUuid, Message } });
  const workspaceRoom = (uuid: string) => ({ Type: 'WORKSPACE', RoomTypeObject: uuid });

  beforeAll(async () => {
    nodeAuth = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const node = (JSON.parse(body || '{}') as { NodeUuid?: string }).NodeUuid;
        nodeCalls.push({ authorization: req.headers.authorization, node });
        const login = logins.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
        const perm = nodePerms.get(`${login} ${node}`);
        res.writeHead(perm ? 200 : 404, { 'Content-Type': 'application/json' }).end(JSON.stringify(perm ?? {}));
      });
    });
    await new Promise<void>((resolve) => nodeAuth.listen(0, '127.0.0.1', resolve));
    ch = testChannels();
    backend = new Backend();
    app = await startInstance({
      ...ch,
      REDIS_URL,
      CHAT_NODE_AUTH_URL: `http://127.0.0.1:${(nodeAuth.address() as AddressInfo).port}/authorize`,
      CHAT_PRESENCE_TIMEOUT_MS: String(PRESENCE_TIMEOUT_MS),
      CHAT_MAX_MESSAGE_LENGTH: '40',
      CHAT_MESSAGE_RATE: '5',
      CHAT_MAX_ROOMS_PER_SESSION: '3',
      // Heartbeats here are 40 times faster than Cells': the per-user limits are tested in chat-limits.
      CHAT_USER_JOIN_RATE: '1000',
      CHAT_USER_MESSAGE_RATE: '1000',
    });
    await waitSubscribed(backend, ch.CHANNEL_CHAT);
  });

  afterEach(() => {
    timers.splice(0).forEach(clearInterval);
    clients.splice(0).forEach((c) => c.close());
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
    await new Promise((resolve) => nodeAuth?.close(resolve));
  });

  it('two users chat in a workspace room (Cells upper case on /chat, React lower case on /ws/chat)', async () => {
    const W = ws(`w-${tag}-chat`, 'projects', 'pydiods1/projects');
    const alice = await connect('alice', [W]);
    const bob = await connect('bob', [W], '/ws/chat');
    const room = { ...workspaceRoom(W.uuid), RoomLabel: 'Projects' };

    const created = await join(alice, room);
    expect(created).toEqual({ Uuid: expect.any(String), Type: 'WORKSPACE', RoomTypeObject: W.uuid, RoomLabel: 'Projects', Users: ['alice'], LastUpdated: expect.stringMatching(/^\d+$/) });
    heartbeat(alice, room);
    const joined = await join(bob, { Type: 'workspace', RoomTypeObject: W.uuid }, 'join');
    heartbeat(bob, room);
    expect(joined.Uuid).toBe(created.Uuid); // found, not created again
    expect(joined.Users).toEqual(['alice', 'bob']);
    await alice.next(isUpdate(created.Uuid, ['alice', 'bob']));

    // Author and Timestamp are the server's; HTML is stripped.
    const before = Math.floor(Date.now() / 1000);
    bob.send({ '@type': 'msg', Message: { RoomUuid: created.Uuid, Message: '<b>hi</b> <script>alert(1)</script>alice', Author: 'mallory', Timestamp: '1' } });
    const got = await alice.next(isMessage('hi alice'));
    expect(got).toEqual({ Uuid: expect.any(String), RoomUuid: created.Uuid, Message: 'hi alice', Author: 'bob', Timestamp: expect.stringMatching(/^\d+$/), Seq: 1 });
    expect(Number(got.Timestamp)).toBeGreaterThanOrEqual(before);
    expect(await bob.next(isMessage('hi alice'))).toEqual(got);

    post(alice, created.Uuid, 'hello bob');
    expect(await bob.next(isMessage('hello bob'))).toMatchObject({ Author: 'alice' });
    // Exactly once each.
    const upToSentinel = await sentinelIn(created.Uuid);
    expect((await upToSentinel(alice)).filter((f) => f.RoomUuid === created.Uuid && !f['@type'])).toHaveLength(2);
    expect((await upToSentinel(bob)).filter((f) => f.RoomUuid === created.Uuid && !f['@type'])).toHaveLength(2);
  });

  it('refuses a user without the workspace, with a reason naming the room, and leaks nothing to it', async () => {
    const W = ws(`w-${tag}-private`, 'private', 'pydiods1/private');
    const alice = await connect('alice', [W]);
    const carol = await connect('carol', [ws(`w-${tag}-other`, 'other', 'pydiods1/other')]);
    const carolOwn = await ownRoom(carol, 'carol');
    const carolFrom = carol.frames.length;
    const room = await join(alice, workspaceRoom(W.uuid));

    carol.send({ '@type': 'JOIN', Room: workspaceRoom(W.uuid) });
    expect(await carol.next(isError('workspace not in session'))).toEqual({ '@type': 'error', error: 'workspace not in session', code: 'forbidden', Room: workspaceRoom(W.uuid) });
    const beforeHistory = carol.frames.length;
    carol.send({ '@type': 'HISTORY', Room: workspaceRoom(W.uuid) });
    carol.send({ '@type': 'POST', Message: { RoomUuid: room.Uuid, Message: 'let me in' } });
    await carol.next((f) => isError('room not joined')(f) && roomOf(f).Uuid === room.Uuid);
    // The HISTORY of a non-member is not answered at all (frames are handled in order: the POST's error is the barrier).
    expect(since(carol, beforeHistory)).toEqual([{ '@type': 'error', error: 'room not joined', code: 'room_not_joined', Room: { Uuid: room.Uuid } }]);

    post(alice, room.Uuid, 'secret plans');
    await alice.next(isMessage('secret plans'));
    const inRoom = await sentinelIn(room.Uuid);
    expect((await inRoom(alice)).filter(isMessage('let me in'))).toEqual([]);
    const inCarolOwn = await sentinelIn(carolOwn);
    expect((await inCarolOwn(carol, carolFrom)).filter((f) => f['@type'] === 'ROOM_UPDATE' || f.RoomUuid !== undefined || f.Message !== undefined)).toEqual([]);
    expect(alice.frames.filter((f) => f['@type'] === 'ROOM_UPDATE').every((f) => !roomOf(f).Users?.includes('carol'))).toBe(true);
  });

  it('authorizes USER and GLOBAL rooms, refuses ANY, and bounds the rooms of a session', async () => {
    const alice = await connect('alice');
    const carol = await connect('carol');
    const userRoom = { Type: 'USER', RoomTypeObject: `alice,bob-${tag}` };
    await join(alice, userRoom);
    carol.send({ '@type': 'JOIN', Room: userRoom });
    expect(await carol.next(isError('user not named in room'))).toMatchObject({ Room: userRoom });
    carol.send({ '@type': 'JOIN', Room: { Type: 'ANY', RoomTypeObject: 'x' } });
    await carol.next(isError(/unknown room type ANY/));
    await join(carol, { Type: 'GLOBAL' });

    // CHAT_MAX_ROOMS_PER_SESSION=3: a fourth room is refused, a room already joined is not.
    await join(alice, { Type: 'GLOBAL' });
    await join(alice, { Type: 'USER', RoomTypeObject: `alice,${tag}-3rd` });
    alice.send({ '@type': 'JOIN', Room: { Type: 'USER', RoomTypeObject: `alice,${tag}-4th` } });
    await alice.next(isError('more than 3 rooms'));
    await join(alice, { Type: 'GLOBAL' });
  });

  it('answers bad or early frames with an error frame and keeps the socket open', async () => {
    const early = await Client.connect(`${app.wsUrl}/chat`);
    clients.push(early);
    early.send({ '@type': 'JOIN', Room: { Type: 'GLOBAL' } });
    await early.next(isError('not subscribed'));
    const alice = await connect('alice');
    alice.send({ '@type': 'JOIN' });
    await alice.next(isError('Room must be an object'));
    alice.send({ '@type': 'JOIN', Room: { Type: 'BOGUS', RoomTypeObject: 'x' } });
    await alice.next(isError(/Room.Type must be one of/));
    alice.send({ '@type': 'HISTORY', Room: { Type: 'GLOBAL' }, Message: { Message: 'not json' } });
    await alice.next(isError('HISTORY Message must be a JSON object'));
    alice.send({ '@type': 'no_such_thing' });
    await join(alice, { Type: 'GLOBAL' });
  });

  // Each frame is read by its schema at the gateway: the field is named, a valid client id is echoed.
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['JOIN with a Message that is not an object', { '@type': 'JOIN', Room: { Type: 'GLOBAL' }, Message: 'PING' }, { error: 'Message must be an object' }],
    ['LEAVE without a Room', { '@type': 'leave' }, { error: 'Room must be an object' }],
    ['HISTORY with a number for its text', { '@type': 'HISTORY', Room: { Type: 'GLOBAL' }, Message: { Message: 3 } }, { error: 'Message.Message must be a string' }],
    ['POST without RoomUuid', { '@type': 'POST', id: 'p1', Message: { Message: 'hi' } }, { error: 'Message.RoomUuid must be a string', id: 'p1' }],
    ['msg with a text Message', { '@type': 'msg', Message: 'hi' }, { error: 'Message must be an object' }],
    ['DELETE_MSG with an empty id', { '@type': 'DELETE_MSG', id: '', Message: { Uuid: 'u', RoomUuid: 'r' } }, { error: 'id must be a string of 1 to 64 characters' }],
    ['DELETE_MSG without Uuid', { '@type': 'DELETE_MSG', id: 'd1', Message: { RoomUuid: 'r' } }, { error: 'Message.Uuid must be a string', id: 'd1' }],
  ])('refuses %s as bad_frame, naming the field', async (_name, frame, refusal) => {
    const alice = await connect('alice');
    alice.send(frame);
    expect(await alice.next((f) => f['@type'] === 'error')).toEqual({ '@type': 'error', code: 'bad_frame', ...refusal });
  });

  it('validates posts: empty, too long, too many per second', async () => {
    const W = ws(`w-${tag}-posts`, 'posts', 'pydiods1/posts');
    const alice = await connect('alice', [W]);
    const bob = await connect('bob', [W]);
    const room = await join(alice, workspaceRoom(W.uuid));
    await join(bob, workspaceRoom(W.uuid));

    post(alice, room.Uuid, '<i> </i>');
    await alice.next(isError('empty message'));
    post(alice, room.Uuid, 'x'.repeat(41));
    await alice.next(isError('message longer than 40 characters'));
    // CHAT_MESSAGE_RATE=5: two tokens are gone, three more posts pass, the next ones do not.
    for (let i = 1; i <= 5; i++) post(alice, room.Uuid, `burst ${i}`);
    await alice.next(isError('too many messages'));
    await bob.next(isMessage('burst 3'));
    const delivered = (await (await sentinelIn(room.Uuid))(bob)).filter((f) => typeof f.Message === 'string' && f.Message.startsWith('burst'));
    expect(delivered.map((f) => f.Message)).toEqual(['burst 1', 'burst 2', 'burst 3']);
    expect(bob.frames.filter((f) => f['@type'] === 'error')).toEqual([]);
  });

  it('pages history oldest first, with MAY_HAVE_MORE when a page is full, only for members', async () => {
    const W = ws(`w-${tag}-history`, 'history', 'pydiods1/history');
    const alice = await connect('alice', [W]);
    const bob = await connect('bob', [W]);
    const ref = workspaceRoom(W.uuid);
    const room = await join(alice, ref);
    heartbeat(alice, ref); // no presence expiry in the middle of a page
    for (let i = 1; i <= 5; i++) post(alice, room.Uuid, `m${i}`);
    await alice.next(isMessage('m5'));
    const stored = ['m1', 'm2', 'm3', 'm4', 'm5'].map((t) => alice.frames.find(isMessage(t))!);

    // As the Cells chat UI does: HISTORY before the JOIN. Not answered (join() fails on an
    // error frame), and the HISTORY sent after the JOIN's ROOM_UPDATE works (below).
    const beforeJoin = bob.frames.length;
    bob.send({ '@type': 'HISTORY', Room: ref, Message: { Message: '{"Offset":0,"Limit":2}' } });
    await join(bob, ref);
    expect(since(bob, beforeJoin)[0]).toMatchObject({ '@type': 'ROOM_UPDATE', Room: { Uuid: room.Uuid } });
    expect(since(bob, beforeJoin).filter((f) => f['@type'] === 'error' || f.RoomUuid !== undefined)).toEqual([]);
    heartbeat(bob, ref);

    /** Everything the HISTORY brought: its replies, up to the marker's (frames are answered in order). */
    const history = async (body: object | undefined) => {
      const from = bob.frames.length;
      bob.send({ '@type': 'history', Room: ref, ...(body && { Message: { Message: JSON.stringify(body) } }) });
      const end = await marker(bob);
      return bob.frames.slice(from, bob.frames.indexOf(end));
    };
    const newest = await history({ Offset: 0, Limit: 2 });
    expect(newest[0]).toMatchObject({ '@type': 'ROOM_UPDATE', Room: { Uuid: room.Uuid, Type: 'WORKSPACE', RoomTypeObject: W.uuid } });
    expect(newest.slice(1)).toEqual([stored[3], stored[4], { '@type': 'MAY_HAVE_MORE', RoomUuid: room.Uuid, Timestamp: stored[3].Timestamp, Offset: 2, Limit: 2 }]);
    expect((await history({ Offset: 2, Limit: 2 })).slice(1)).toEqual([stored[1], stored[2], { '@type': 'MAY_HAVE_MORE', RoomUuid: room.Uuid, Timestamp: stored[1].Timestamp, Offset: 4, Limit: 2 }]);
    expect((await history({ Offset: 4, Limit: 2 })).slice(1)).toEqual([stored[0]]); // short page: no MAY_HAVE_MORE
    expect((await history(undefined)).slice(1)).toEqual(stored); // defaults: Offset 0, Limit 40
  });

  it('lets only the stored author delete a message, and tells the room', async () => {
    const W = ws(`w-${tag}-delete`, 'delete', 'pydiods1/delete');
    const alice = await connect('alice', [W]);
    const bob = await connect('bob', [W]);
    const room = await join(alice, workspaceRoom(W.uuid));
    await join(bob, workspaceRoom(W.uuid));
    post(alice, room.Uuid, 'mine');
    const mine = await bob.next(isMessage('mine'));

    // bob claims to be the author: the stored author decides.
    const aliceFrom = alice.frames.length;
    bob.send({ '@type': 'DELETE_MSG', Message: { Uuid: mine.Uuid, RoomUuid: room.Uuid, Author: 'bob' } });
    expect(await bob.next(isError('not the author of the message'))).toMatchObject({ Message: { Uuid: mine.Uuid, RoomUuid: room.Uuid } });
    const isDelete = (f: Frame) => f['@type'] === 'DELETE_MSG';
    expect((await (await sentinelIn(room.Uuid))(alice, aliceFrom)).filter(isDelete)).toEqual([]);

    alice.send({ '@type': 'delete_msg', Message: { Uuid: mine.Uuid, RoomUuid: room.Uuid } });
    expect(await bob.next(isDelete)).toEqual({ '@type': 'DELETE_MSG', Message: mine });
    expect(await alice.next(isDelete)).toEqual({ '@type': 'DELETE_MSG', Message: mine });
    alice.send({ '@type': 'DELETE_MSG', Message: { Uuid: mine.Uuid, RoomUuid: room.Uuid } });
    await alice.next(isError('message not found'));
    expect((await (await sentinelIn(room.Uuid))(bob)).filter(isDelete)).toHaveLength(1);

    const from = alice.frames.length;
    alice.send({ '@type': 'HISTORY', Room: workspaceRoom(W.uuid) });
    const end = await marker(alice); // the HISTORY's replies come before the marker's
    const answer = alice.frames.slice(from, alice.frames.indexOf(end));
    expect(answer.filter(isUpdate(room.Uuid))).toHaveLength(1);
    expect(answer.filter((f) => f.Uuid === mine.Uuid)).toEqual([]);
  });

  it('updates presence on leave, on unsubscribe, on disconnect, and after a missed heartbeat', async () => {
    const W = ws(`w-${tag}-presence`, 'presence', 'pydiods1/presence');
    const ref = workspaceRoom(W.uuid);
    const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => connect(n, [W])));
    const bobOwn = await ownRoom(bob, 'bob');
    const room = await join(alice, ref);
    heartbeat(alice, ref);
    const [stopBob, stopCarol] = [bob, carol].map((c) => heartbeat(c, ref));
    for (const c of [bob, carol]) await join(c, ref);
    // Bob too: his copy of the update must not be counted after `bobFrom` (updates are coalesced: it may come after his JOIN's answer).
    await Promise.all([alice, bob].map((c) => c.next(isUpdate(room.Uuid, ['alice', 'bob', 'carol']))));

    // LEAVE: the room is told, the leaver hears nothing more from it.
    let from = alice.frames.length;
    const bobFrom = bob.frames.length;
    stopBob();
    bob.send({ '@type': 'leave', Room: ref });
    await nextSince(alice, from, isUpdate(room.Uuid, ['alice', 'carol']));
    post(alice, room.Uuid, 'after bob left');
    await carol.next(isMessage('after bob left'));
    const bobSaw = await (await sentinelIn(bobOwn))(bob, bobFrom);
    expect(bobSaw.filter((f) => f['@type'] === 'ROOM_UPDATE' || f.RoomUuid !== undefined)).toEqual([]);

    // Disconnect.
    from = alice.frames.length;
    stopCarol();
    carol.close();
    await nextSince(alice, from, isUpdate(room.Uuid, ['alice']));

    // A session that stops pinging is dropped after the timeout; its next PING brings it back.
    from = alice.frames.length;
    const joinedAt = Date.now(); // before the JOIN: its ROOM_UPDATE may wait for the end of the room's window
    await join(dave, ref);
    await nextSince(alice, from, isUpdate(room.Uuid, ['alice', 'dave']));
    await nextSince(alice, from, isUpdate(room.Uuid, ['alice']));
    expect(Date.now() - joinedAt).toBeGreaterThanOrEqual(PRESENCE_TIMEOUT_MS - 50);
    from = alice.frames.length;
    dave.send({ '@type': 'JOIN', Room: ref, Message: { Message: 'PING' } });
    await nextSince(alice, from, isUpdate(room.Uuid, ['alice', 'dave']));

    // unsubscribe clears the session: out of the room, nothing more reaches it.
    const settled = await sentinelIn(room.Uuid); // updates in flight land before it
    await settled(alice);
    await settled(dave);
    from = alice.frames.length;
    const daveFrom = dave.frames.length;
    dave.send({ '@type': 'unsubscribe' });
    await nextSince(alice, from, isUpdate(room.Uuid, ['alice']));
    post(alice, room.Uuid, 'after dave left');
    await alice.next(isMessage('after dave left'));
    // Barrier: dave subscribes again and hears from a room of his own: anything of the old room would come first.
    await ask(dave, { '@type': 'subscribe', jwt: tokenOf.get(dave)! }, (f) => f['@type'] === 'subscribed');
    const daveOwn = await ownRoom(dave, 'dave');
    const daveSaw = await (await sentinelIn(daveOwn))(dave, daveFrom);
    expect(daveSaw.filter((f) => f['@type'] !== 'subscribed' && roomOf(f).Uuid !== daveOwn)).toEqual([]);
  });

  it('re-checks the rooms when a session subscribes again with other claims', async () => {
    const W = ws(`w-${tag}-resubscribe`, 'resub', 'pydiods1/resub');
    const ref = workspaceRoom(W.uuid);
    const alice = await connect('alice', [W]);
    const bob = await connect('bob', [W]);
    const bobOwn = await ownRoom(bob, 'bob');
    const room = await join(alice, ref);
    heartbeat(alice, ref);
    await join(bob, ref);
    await alice.next(isUpdate(room.Uuid, ['alice', 'bob']));

    // Same user, the workspace is gone from the new token: out of the room, with the reason.
    const from = alice.frames.length;
    bob.send({ '@type': 'subscribe', jwt: token({ name: 'bob', workspaces: [] }) });
    expect(await bob.next(isError('workspace not in session'))).toMatchObject({ Room: { Uuid: room.Uuid, Type: 'WORKSPACE', RoomTypeObject: W.uuid } });
    await nextSince(alice, from, isUpdate(room.Uuid, ['alice']));
    const bobFrom = bob.frames.length;
    post(alice, room.Uuid, 'bob is out');
    await alice.next(isMessage('bob is out'));
    expect(await (await sentinelIn(bobOwn))(bob, bobFrom)).toEqual([]);

    // Another user on the same socket starts with no rooms.
    const carol = await connect('carol', [W]);
    await join(carol, ref);
    await alice.next(isUpdate(room.Uuid, ['alice', 'carol']));
    const carolFrom = alice.frames.length;
    carol.send({ '@type': 'subscribe', jwt: token({ name: 'dave', workspaces: [W] }) });
    await nextSince(alice, carolFrom, isUpdate(room.Uuid, ['alice']));
  });

  it('does not create a room from a PING', async () => {
    const alice = await connect('alice');
    const ref = { Type: 'USER', RoomTypeObject: `alice,${tag}-ping` };
    alice.send({ '@type': 'JOIN', Room: ref, Message: { Message: 'PING' } });
    expect(await alice.next(isError('room not found'))).toMatchObject({ Room: ref });
    const room = await join(alice, ref);
    const from = alice.frames.length;
    alice.send({ '@type': 'JOIN', Room: ref, Message: { Message: 'PING' } });
    // A PING that changes nothing is not announced.
    expect(await (await sentinelIn(room.Uuid))(alice, from)).toEqual([]);
    expect(room.Users).toEqual(['alice']);
  });

  it('asks the NODE authorization endpoint: allowed, read-only, refused', async () => {
    const node = `n-${tag}-report`;
    nodePerms.set(`alice ${node}`, { read: true, write: true });
    nodePerms.set(`bob ${node}`, { read: true, write: false });
    nodePerms.set(`carol ${node}`, { read: false, write: false });
    const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => connect(n)));
    const ref = { Type: 'NODE', RoomTypeObject: node };
    const own = new Map<Client, string>([[carol, await ownRoom(carol, 'carol')], [dave, await ownRoom(dave, 'dave')]]);

    const room = await join(alice, ref);
    expect(nodeCalls).toContainEqual({ authorization: `Bearer ${tokenOf.get(alice)}`, node });

    // Read-only: in the room, sees posts and history, cannot post.
    await join(bob, ref);
    post(bob, room.Uuid, 'can I write?');
    await bob.next(isError('room is read-only'));
    post(alice, room.Uuid, 'for readers');
    await bob.next(isMessage('for readers'));
    expect((await (await sentinelIn(room.Uuid))(alice)).filter(isMessage('can I write?'))).toEqual([]);

    // Not readable, or not known to the endpoint (404): refused, nothing leaks.
    carol.send({ '@type': 'JOIN', Room: ref });
    expect(await carol.next(isError('node not readable'))).toMatchObject({ Room: ref });
    dave.send({ '@type': 'JOIN', Room: ref });
    await dave.next(isError('node authorization unavailable'));
    post(alice, room.Uuid, 'members only');
    await alice.next(isMessage('members only'));
    for (const c of [carol, dave]) {
      const saw = await (await sentinelIn(own.get(c)!))(c);
      expect(saw.filter((f) => f['@type'] !== 'error' && f['@type'] !== 'subscribed' && roomOf(f).Uuid !== own.get(c))).toEqual([]);
    }
  });

  it('refuses NODE rooms when the authorization endpoint is unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const other = await startInstance({ ...testChannels(), CHAT_NODE_AUTH_URL: `http://127.0.0.1:${port}/authorize` });
    try {
      const c = await Client.subscribed(`${other.wsUrl}/chat`, token({ name: 'alice' }));
      clients.push(c);
      c.send({ '@type': 'JOIN', Room: { Type: 'NODE', RoomTypeObject: `n-${tag}-x` } });
      await c.next(isError('node authorization unavailable'));
      const end = await marker(c); // answered after the JOIN is done
      expect(c.frames.slice(0, c.frames.indexOf(end)).filter((f) => f['@type'] === 'ROOM_UPDATE')).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('delivers a ChatEvent published by a backend, and survives garbage on the chat channel', async () => {
    const W = ws(`w-${tag}-backend`, 'backend', 'pydiods1/backend');
    const alice = await connect('alice', [W]);
    const outsider = await connect('zoe');
    const room = await join(alice, workspaceRoom(W.uuid));
    const global = await join(outsider, { Type: 'GLOBAL' });

    for (const g of ['not json', '[]', '{}', '{"Message":{"RoomUuid":"r"}}', '{"Room":{"Uuid":"r","Users":"x"}}', '{"Details":"DELETE_MSG","Room":{"Uuid":"r"}}']) {
      await backend.publish(ch.CHANNEL_CHAT, g);
    }
    const msg = { Uuid: `ext-${tag}`, RoomUuid: room.Uuid, Message: 'from a backend', Author: 'bot', Timestamp: 1700000000 };
    await backend.publish(ch.CHANNEL_CHAT, { Message: msg }, 'envelope');
    expect(await alice.next(isMessage('from a backend'))).toEqual({ ...msg, Timestamp: '1700000000' });
    await backend.publish(ch.CHANNEL_CHAT, { Message: msg, Details: 'DELETE_MSG' });
    expect(await alice.next((f) => f['@type'] === 'DELETE_MSG')).toEqual({ '@type': 'DELETE_MSG', Message: { ...msg, Timestamp: '1700000000' } });
    await backend.publish(ch.CHANNEL_CHAT, { Room: { Uuid: room.Uuid, Type: 'WORKSPACE', RoomTypeObject: W.uuid, Users: ['alice', 'ext'] } });
    await alice.next(isUpdate(room.Uuid, ['alice', 'ext']));

    expect((await (await sentinelIn(room.Uuid))(alice)).filter(isMessage('from a backend'))).toHaveLength(1);
    const outsiderSaw = await (await sentinelIn(global.Uuid))(outsider);
    expect(outsiderSaw.filter((f) => f.RoomUuid === room.Uuid || roomOf(f).Uuid === room.Uuid || f['@type'] === 'DELETE_MSG')).toEqual([]);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    const rejected = metrics.split('\n').filter((l) => l.startsWith('switchboard_bus_rejected_total') && l.includes('topic="chat"'));
    expect(rejected.reduce((n, l) => n + Number(l.split(' ').pop()), 0)).toBe(6);
  });
});
