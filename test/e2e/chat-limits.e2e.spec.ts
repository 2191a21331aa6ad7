/**
 * `/chat` bounds end to end (issue 8, items 3, 9 and 10), on a real Redis with two instances:
 * replies count against the session's byte bound, rooms are bounded (label size, rooms
 * created per user, expiry of empty rooms), and one user's sessions share one set of limits.
 * Every user name carries a tag unique to the run: the per-user counters live in Redis.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { Backend, CHAT_KEY_PREFIX, Client, REDIS_URL, ask, marker, metricValue, startInstance, testChannels, token, waitSubscribed, type Frame, type Instance } from '../support/harness.js';
import { chatMessage, isError, joinAnswer, roomOf } from '../support/chat.js';

const tag = randomBytes(4).toString('hex');
const ROOM_TTL_SECONDS = 2;
const USER_MESSAGE_RATE = 5;
const USER_JOIN_RATE = 10;
const ROOM_CREATE_LIMIT = 3;

describe("/chat limits on a real Redis, several instances", () => {
  const ch = testChannels();
  let a: Instance, b: Instance, c: Instance, d: Instance;
  let backend: Backend;
  let redis: Redis;
  const clients: Client[] = [];
  const timers: NodeJS.Timeout[] = [];

  const open = async (instance: Instance, name: string) => {
    const c = await Client.subscribed(`${instance.wsUrl}/chat`, token({ name }));
    clients.push(c);
    return c;
  };
  /** JOIN; resolves with the ROOM_UPDATE (or error) about that room. */
  const join = joinAnswer;
  const userRoom = (...users: string[]) => ({ Type: 'USER', RoomTypeObject: users.join(',') });
  const closes4008 = (instance: Instance) => metricValue(instance.url, 'switchboard_closes_total{code="4008"}');

  beforeAll(async () => {
    backend = new Backend();
    redis = new Redis(REDIS_URL);
    const env = {
      ...ch,
      REDIS_URL,
      CHAT_PRESENCE_TIMEOUT_MS: '800', // presence sweeps (which keep rooms alive) every 200 ms
      CHAT_ROOM_TTL_SECONDS: String(ROOM_TTL_SECONDS),
      CHAT_USER_MESSAGE_RATE: String(USER_MESSAGE_RATE),
      CHAT_USER_JOIN_RATE: String(USER_JOIN_RATE),
      CHAT_ROOM_CREATE_LIMIT: String(ROOM_CREATE_LIMIT),
    };
    const fast = { SESSION_RATE: '1000', CHAT_MESSAGE_RATE: '1000', CHAT_USER_MESSAGE_RATE: '1000', CLIENT_FRAME_RATE: '1000', CLIENT_FRAME_BURST: '1000' };
    [a, b, c, d] = await Promise.all([
      startInstance(env),
      startInstance(env),
      // C serves the reader that never reads: a small byte bound, a writer fast enough to fill the
      // history, and a long presence timeout, so that nothing but the replies reaches the reader.
      startInstance({ ...env, ...fast, SESSION_MAX_BUFFERED_BYTES: String(256 * 1024), CHAT_PRESENCE_TIMEOUT_MS: '60000' }),
      // D: HISTORY answers bounded to 64 KiB of unread bytes, far below the session's 4 MiB.
      startInstance({ ...env, ...fast, CHAT_HISTORY_MAX_BYTES: String(64 * 1024), CHAT_PRESENCE_TIMEOUT_MS: '60000' }),
    ]);
    await waitSubscribed(backend, ch.CHANNEL_CHAT, 4);
  });

  afterEach(() => {
    timers.splice(0).forEach(clearInterval);
    clients.splice(0).forEach((c) => c.close());
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), c?.close(), d?.close()]);
    await backend?.close();
    await redis?.quit();
  });

  describe('item 3: replies count against the session byte bound', () => {
    it('a client that never reads and asks for HISTORY pages is closed 4008', async () => {
      const writerName = `writer-${tag}`;
      const readerName = `reader-${tag}`;
      const writer = await open(c, writerName);
      const room = userRoom(writerName, readerName);
      const uuid = roomOf(await join(writer, room)).Uuid!;
      const text = 'x'.repeat(3990);
      for (let i = 0; i < 200; i++) writer.send({ '@type': 'POST', Message: { RoomUuid: uuid, Message: `${i} ${text}` } });
      await writer.next((f) => typeof f.Message === 'string' && f.Message.startsWith('199 '), 15_000);

      const reader = await open(c, readerName);
      await join(reader, room);
      const before = await closes4008(c);
      reader.socket.pause(); // never reads again
      const history = { '@type': 'HISTORY', Room: room, Message: { Message: '{"Offset":0,"Limit":200}' } };
      for (let i = 0; i < 40; i++) reader.send(history); // 40 pages of ~800 KB
      for (let i = 0; i < 100 && (await closes4008(c)) === before; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await closes4008(c)).toBe(before + 1);
      reader.socket.resume();
      expect((await reader.closed).code).toBe(4008);
    }, 30_000);

    it(`HISTORY answers stop at CHAT_HISTORY_MAX_BYTES of unread bytes: then busy, and the socket stays open`, async () => {
      const writerName = `hwriter-${tag}`;
      const readerName = `hreader-${tag}`;
      const writer = await open(d, writerName);
      const room = userRoom(writerName, readerName);
      const uuid = roomOf(await join(writer, room)).Uuid!;
      const text = 'x'.repeat(3990);
      for (let i = 0; i < 200; i++) writer.send({ '@type': 'POST', Message: { RoomUuid: uuid, Message: `${i} ${text}` } });
      await writer.next((f) => typeof f.Message === 'string' && f.Message.startsWith('199 '), 15_000);

      const reader = await open(d, readerName);
      await join(reader, room);
      reader.socket.pause(); // stops reading: the kernel's buffers fill, then the server's
      const history = { '@type': 'HISTORY', Room: room, Message: { Message: '{"Offset":0,"Limit":200}' } };
      // 400 pages of at most 64 KiB each: 25 MiB, far more than the loopback's buffers take.
      for (let i = 0; i < 400; i++) reader.send(history);
      const refused = async () => Number(/^switchboard_chat_history_refused_total\{reason="unread"\} (\d+)/m.exec(await (await fetch(`${d.url}/metrics`)).text())?.[1] ?? 0);
      for (let i = 0; i < 200 && (await refused()) === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await refused()).toBeGreaterThan(0);
      reader.socket.resume();
      // Every request is answered, by a page of at most 64 KiB (cut, with MAY_HAVE_MORE: it starts with a ROOM_UPDATE) or the refusal; never a close.
      const answers = () => reader.frames.filter((f) => f['@type'] === 'ROOM_UPDATE' || f['@type'] === 'error').length;
      for (let i = 0; i < 300 && answers() < 401; i++) await new Promise((r) => setTimeout(r, 100));
      expect(answers()).toBe(401); // with the JOIN's ROOM_UPDATE
      // All read now: a page again.
      const after = await ask(reader, { '@type': 'HISTORY', Room: room, Message: { Message: '{"Offset":0,"Limit":1}' } }, (f) => f['@type'] === 'MAY_HAVE_MORE' && f.Limit === 1, 20_000);
      expect(after).toMatchObject({ Offset: 1 });
      expect(reader.frames.find((f) => f['@type'] === 'error')).toEqual({ '@type': 'error', error: 'too much unread: read what was sent first', code: 'busy', Room: room });
      const cut = reader.frames.find((f) => f['@type'] === 'MAY_HAVE_MORE' && f.Limit === 200);
      expect(cut).toMatchObject({ Offset: expect.any(Number) });
      expect((cut as { Offset: number }).Offset).toBeLessThan(200);
      expect(reader.socket.readyState).toBe(reader.socket.OPEN);
    }, 60_000);
  });

  describe('item 9: rooms are bounded', () => {
    it('a 60 KB RoomLabel is refused, and no room is created', async () => {
      const name = `label-${tag}`;
      const alice = await open(a, name);
      const room = { ...userRoom(name), RoomLabel: 'L'.repeat(60_000) };
      const f = await ask(alice, { '@type': 'JOIN', Room: room }, (x) => x['@type'] === 'error' || x['@type'] === 'ROOM_UPDATE');
      expect(f).toEqual({ '@type': 'error', error: 'Room.RoomLabel is longer than 256 characters', code: 'bad_frame' });
      expect(await redis.exists(`${CHAT_KEY_PREFIX}room-key:USER:${name}`)).toBe(0);
    });

    it(`rooms created per user are limited (${ROOM_CREATE_LIMIT} per window), across sessions and instances`, async () => {
      const name = `creator-${tag}`;
      const onA = await open(a, name);
      const onB = await open(b, name);
      // JOIN + LEAVE cycling, as in the report, alternating instances.
      const answers: Frame[] = [];
      for (let i = 0; i < ROOM_CREATE_LIMIT + 2; i++) {
        const c = i % 2 ? onB : onA;
        const room = { Type: 'GLOBAL', RoomTypeObject: `${tag}-cycle-${i}`, RoomLabel: 'cycling' };
        answers.push(await join(c, room));
        c.send({ '@type': 'LEAVE', Room: room });
      }
      expect(answers.map((f) => f['@type'])).toEqual([...Array(ROOM_CREATE_LIMIT).fill('ROOM_UPDATE'), 'error', 'error']);
      expect(answers.at(-1)).toMatchObject({ error: 'too many rooms created', Room: { Type: 'GLOBAL', RoomTypeObject: `${tag}-cycle-${ROOM_CREATE_LIMIT + 1}` } });
      // Rooms that exist can still be joined (nothing is created).
      expect((await join(onB, { Type: 'GLOBAL', RoomTypeObject: `${tag}-cycle-0` }))['@type']).toBe('ROOM_UPDATE');
    });

    it(`an empty room expires with its history (TTL ${ROOM_TTL_SECONDS} s); a room with a member present does not`, async () => {
      const name = `ttl-${tag}`;
      const alice = await open(a, name);
      const kept = userRoom(name, 'kept');
      const gone = userRoom(name, 'gone');
      const keptUuid = roomOf(await join(alice, kept)).Uuid!;
      const goneUuid = roomOf(await join(alice, gone)).Uuid!;
      alice.send({ '@type': 'POST', Message: { RoomUuid: goneUuid, Message: 'history' } });
      await alice.next((f) => f.Message === 'history');
      const keys = (uuid: string, ref: { RoomTypeObject: string }) => [
        `${CHAT_KEY_PREFIX}room:${uuid}`,
        `${CHAT_KEY_PREFIX}room-key:USER:${ref.RoomTypeObject}`,
        `${CHAT_KEY_PREFIX}messages:${uuid}`,
        `${CHAT_KEY_PREFIX}message:${uuid}`,
      ];
      for (const key of keys(goneUuid, gone)) {
        const ttl = await redis.pttl(key);
        expect([key, ttl > 0 && ttl <= ROOM_TTL_SECONDS * 1000]).toEqual([key, true]);
      }
      alice.send({ '@type': 'LEAVE', Room: gone });
      timers.push(setInterval(() => alice.send({ '@type': 'JOIN', Room: kept, Message: { Message: 'PING' } }), 200));
      // Poll (bounded) until the empty room's keys are gone: about one TTL.
      const deadline = Date.now() + ROOM_TTL_SECONDS * 3000;
      while (Date.now() < deadline && (await redis.exists(...keys(goneUuid, gone))) > 0) await new Promise((r) => setTimeout(r, 100));
      expect(await redis.exists(...keys(goneUuid, gone))).toBe(0);
      // The room with a member outlived its TTL more than once, and answers HISTORY.
      expect(await redis.exists(`${CHAT_KEY_PREFIX}room:${keptUuid}`)).toBe(1);
      const page = await ask(alice, { '@type': 'HISTORY', Room: kept }, (f) => f['@type'] === 'ROOM_UPDATE' || f['@type'] === 'error');
      expect(roomOf(page).Uuid).toBe(keptUuid);
      // Joining the expired room again creates a new, empty one.
      const again = await join(alice, gone);
      expect(roomOf(again).Uuid).not.toBe(goneUuid);
    }, 15_000);
  });

  describe('item 10: one user cannot knock a room offline', () => {
    it(`posts are limited per user (${USER_MESSAGE_RATE}/s) across 8 sessions on two instances`, async () => {
      const name = `flood-${tag}`;
      const bob = await open(a, `bob-${tag}`);
      const room = userRoom(name, `bob-${tag}`);
      const uuid = roomOf(await join(bob, room)).Uuid!;
      const sessions = await Promise.all([...Array(8).keys()].map((i) => open(i % 2 ? b : a, name)));
      for (const s of sessions) await join(s, room);
      const start = bob.frames.length;
      for (const s of sessions) for (let i = 0; i < 3; i++) s.send({ '@type': 'POST', Message: { RoomUuid: uuid, Message: `flood ${i}` } });
      await Promise.all(sessions.map(marker));
      const refused = sessions.flatMap((s) => s.frames.filter(isError('too many messages'))).length;
      // Barrier: a later message in the room reaches bob after every accepted post.
      await backend.publish(ch.CHANNEL_CHAT, chatMessage(uuid, `sentinel-${tag}`));
      await bob.next((f) => f.Message === `sentinel-${tag}`);
      const accepted = bob.frames.slice(start).filter((f) => String(f.Message).startsWith('flood ')).length;
      expect(accepted + refused).toBe(24);
      // A fixed window: at most two windows' worth when the burst straddles a boundary.
      expect(accepted).toBeLessThanOrEqual(2 * USER_MESSAGE_RATE);
      expect(accepted).toBeGreaterThan(0);
    });

    it('JOINs (PINGs included) are limited per user', async () => {
      const name = `joiner-${tag}`;
      const [s1, s2] = await Promise.all([open(a, name), open(b, name)]);
      const room = userRoom(name);
      await join(s1, room);
      const start = [s1.frames.length, s2.frames.length];
      for (let i = 0; i < 15; i++) {
        s1.send({ '@type': 'JOIN', Room: room, Message: { Message: 'PING' } });
        s2.send({ '@type': 'JOIN', Room: room });
      }
      await Promise.all([marker(s1), marker(s2)]);
      const refused = [s1, s2].flatMap((s, i) => s.frames.slice(start[i]).filter(isError('too many joins'))).length;
      expect(refused).toBeGreaterThanOrEqual(30 - 2 * USER_JOIN_RATE);
    });

    it('a JOIN by a member, a second session of a present user, or a PING sends nothing to the room; the joiner still gets the room', async () => {
      const name = `member-${tag}`;
      const bob = await open(b, `bob-${tag}`);
      const alice = await open(a, name);
      const room = userRoom(name, `bob-${tag}`);
      const uuid = roomOf(await join(bob, room)).Uuid!;
      await join(alice, room);
      await bob.next((f) => f['@type'] === 'ROOM_UPDATE' && JSON.stringify(roomOf(f).Users) === JSON.stringify([`bob-${tag}`, name].sort()));
      const start = bob.frames.length;

      for (let i = 0; i < 3; i++) {
        const f = await join(alice, room); // already a member
        expect(f).toMatchObject({ '@type': 'ROOM_UPDATE', Room: { Uuid: uuid, Users: [`bob-${tag}`, name].sort() } });
      }
      const second = await open(b, name); // alice is present already
      expect(await join(second, room)).toMatchObject({ '@type': 'ROOM_UPDATE', Room: { Uuid: uuid } });
      alice.send({ '@type': 'JOIN', Room: room, Message: { Message: 'PING' } });
      await marker(alice);

      await backend.publish(ch.CHANNEL_CHAT, chatMessage(uuid, `barrier-${tag}`));
      await bob.next((f) => f.Message === `barrier-${tag}`);
      expect(bob.frames.slice(start).filter((f) => f['@type'] === 'ROOM_UPDATE')).toEqual([]);
    });
  });
});
