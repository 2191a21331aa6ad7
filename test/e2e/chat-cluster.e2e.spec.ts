/**
 * `/chat` across instances: two Switchboards on one Redis (same channels), members of one
 * room on each. Posts, deletions and presence cross over exactly once, a crashed instance's
 * users go stale, and the history outlives a restart of both instances.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { Backend, CHAT_KEY_PREFIX, Client, REDIS_URL, framesBefore, sleep, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance } from '../support/harness.js';
import { chatMessage, isMessage, isUpdate, nextSince, roomOf, type Room } from '../support/chat.js';

const tag = randomBytes(4).toString('hex');
const PRESENCE_TIMEOUT_MS = 600;
const W = ws(`w-${tag}-cluster`, 'cluster', 'pydiods1/cluster');
const REF = { Type: 'WORKSPACE', RoomTypeObject: W.uuid };


describe('/chat with two instances on one Redis', () => {
  const ch = testChannels();
  const env = { ...ch, REDIS_URL, CHAT_PRESENCE_TIMEOUT_MS: String(PRESENCE_TIMEOUT_MS) };
  let a: Instance, b: Instance;
  let backend: Backend;
  const clients: Client[] = [];
  const timers: NodeJS.Timeout[] = [];

  async function member(instance: Instance, name: string): Promise<{ c: Client; room: Room & { Uuid: string } }> {
    const c = await Client.subscribed(`${instance.wsUrl}/chat`, token({ name, workspaces: [W] }));
    clients.push(c);
    c.send({ '@type': 'JOIN', Room: REF });
    const f = await c.next((x) => x['@type'] === 'ROOM_UPDATE' && roomOf(x).Users?.includes(name) === true);
    timers.push(setInterval(() => c.send({ '@type': 'JOIN', Room: REF, Message: { Message: 'PING' } }), PRESENCE_TIMEOUT_MS / 4));
    return { c, room: roomOf(f) as Room & { Uuid: string } };
  }

  let sentinels = 0;
  /** Barrier: a backend message in the room; `before(c)` gives what `c` received up to it. */
  async function sentinelIn(roomUuid: string): Promise<(c: Client) => Promise<Frame[]>> {
    const text = `sentinel-${tag}-${++sentinels}`;
    await backend.publish(ch.CHANNEL_CHAT, chatMessage(roomUuid, text));
    return (c) => framesBefore(c, 0, isMessage(text));
  }

  async function startBoth(): Promise<void> {
    [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
    await waitSubscribed(backend, ch.CHANNEL_CHAT, 2);
  }

  async function closeBoth(): Promise<void> {
    timers.splice(0).forEach(clearInterval);
    clients.splice(0).forEach((c) => c.close());
    await Promise.all([a?.close(), b?.close()]);
  }

  beforeAll(async () => {
    backend = new Backend();
    await startBoth();
  });

  afterEach(() => {
    timers.splice(0).forEach(clearInterval);
    clients.splice(0).forEach((c) => c.close());
  });

  afterAll(async () => {
    await closeBoth();
    await backend?.close();
  });

  it('shows the users of both instances, and delivers a post on one to a member on the other exactly once', async () => {
    const alice = await member(a, 'alice');
    const bob = await member(b, 'bob');
    expect(bob.room.Uuid).toBe(alice.room.Uuid); // one room for both instances
    expect(bob.room.Users).toEqual(['alice', 'bob']);
    await alice.c.next(isUpdate(alice.room.Uuid, ['alice', 'bob']));

    alice.c.send({ '@type': 'POST', Message: { RoomUuid: alice.room.Uuid, Message: 'across instances' } });
    const got = await bob.c.next(isMessage('across instances'));
    expect(got).toMatchObject({ Author: 'alice', RoomUuid: alice.room.Uuid });
    const upTo = await sentinelIn(alice.room.Uuid);
    expect((await upTo(bob.c)).filter(isMessage('across instances'))).toHaveLength(1);
    expect((await upTo(alice.c)).filter(isMessage('across instances'))).toEqual([got]);

    bob.c.send({ '@type': 'POST', Message: { RoomUuid: bob.room.Uuid, Message: 'and back' } });
    const back = await alice.c.next(isMessage('and back'));
    bob.c.send({ '@type': 'DELETE_MSG', Message: { Uuid: back.Uuid, RoomUuid: bob.room.Uuid } });
    const isDelete = (f: Frame) => f['@type'] === 'DELETE_MSG';
    expect(await alice.c.next(isDelete)).toEqual({ '@type': 'DELETE_MSG', Message: back });
    const upToDelete = await sentinelIn(alice.room.Uuid);
    expect((await upToDelete(alice.c)).filter(isDelete)).toHaveLength(1);
    expect((await upToDelete(bob.c)).filter(isDelete)).toHaveLength(1);

    // Presence changes cross over too.
    const from = alice.c.frames.length;
    bob.c.close();
    await nextSince(alice.c, from, isUpdate(alice.room.Uuid, ['alice']));
  });

  it('drops the users of an instance that stopped refreshing them (a crash)', async () => {
    const alice = await member(a, 'alice');
    // What a crashed instance leaves behind: an entry nobody refreshes.
    const redis = new Redis(REDIS_URL);
    try {
      await redis.hset(`${CHAT_KEY_PREFIX}presence:${alice.room.Uuid}`, `crashed-${tag}`, JSON.stringify({ at: Date.now(), users: ['ghost'] }));
    } finally {
      await redis.quit();
    }
    const carol = await member(b, 'carol');
    expect(carol.room.Users).toEqual(['alice', 'carol', 'ghost']);
    const from = alice.c.frames.length;
    await nextSince(alice.c, from, isUpdate(alice.room.Uuid, ['alice', 'carol']));
  });

  it('removes the users of an instance that shuts down from the other instances at once', async () => {
    const c = await startInstance(env);
    try {
      await waitSubscribed(backend, ch.CHANNEL_CHAT, 3);
      const alice = await member(a, 'alice');
      await member(c, 'dave');
      await alice.c.next(isUpdate(alice.room.Uuid, ['alice', 'dave']));
      const from = alice.c.frames.length;
      const closing = c.close();
      await nextSince(alice.c, from, isUpdate(alice.room.Uuid, ['alice']));
      await closing;
    } finally {
      await c.close().catch(() => undefined);
    }
  });

  it('keeps rooms and history when every instance restarts', async () => {
    const alice = await member(a, 'alice');
    for (const text of ['before restart 1', 'before restart 2']) {
      alice.c.send({ '@type': 'POST', Message: { RoomUuid: alice.room.Uuid, Message: text } });
      await alice.c.next(isMessage(text));
    }
    await closeBoth();
    // The old instances' subscriptions must be gone before startBoth() counts the new ones.
    while (Number(((await backend.redis.pubsub('NUMSUB', ch.CHANNEL_CHAT)) as [string, number])[1]) > 0) await sleep(20);
    await startBoth();

    const bob = await member(b, 'bob');
    expect(bob.room.Uuid).toBe(alice.room.Uuid);
    const from = bob.c.frames.length;
    bob.c.send({ '@type': 'HISTORY', Room: REF, Message: { Message: '{"Offset":0,"Limit":2}' } });
    await nextSince(bob.c, from, (f) => f['@type'] === 'MAY_HAVE_MORE');
    const answer = bob.c.frames.slice(from).filter((f) => f['@type'] !== 'ROOM_UPDATE');
    expect(answer.map((f) => f.Message ?? f['@type'])).toEqual(['before restart 1', 'before restart 2', 'MAY_HAVE_MORE']);
    expect(answer[0]).toMatchObject({ Author: 'alice', RoomUuid: alice.room.Uuid });
  });
});
