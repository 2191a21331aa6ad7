/** RedisChatStore against the real Redis of TEST_REDIS_URL; every key lives under a random prefix removed afterwards. */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisChatStore } from '../../src/chat/redis-chat-store.js';
import { chatStoreContract, fill, freshUuid, message } from '../support/chat-store-contract.js';
import { TEST_REDIS_URL, keysUnder } from '../support/test-redis.js';

const prefix = `switchboard-test:${randomUUID()}:chat:`;
const connect = () => new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
let redis: Redis;

const keysUnderPrefix = (client: Redis) => keysUnder(client, prefix);

beforeAll(async () => {
  redis = connect();
  await redis.connect();
});

afterAll(async () => {
  const keys = await keysUnderPrefix(redis);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

chatStoreContract('RedisChatStore', (historyLimit) => new RedisChatStore(redis, { prefix, historyLimit }));

describe('RedisChatStore in Redis', () => {
  it('rooms and messages survive a new client and a new store (a restart)', async () => {
    const roomUuid = freshUuid('room');
    const room = { Uuid: roomUuid, Type: 'WORKSPACE' as const, RoomTypeObject: freshUuid('ws'), RoomLabel: 'Projects', Users: ['alice'], LastUpdated: '1700000000' };
    const first = connect();
    const before = new RedisChatStore(first, { prefix });
    await before.saveRoom(room);
    await fill(before, roomUuid, 3);
    await before.close();
    await expect(first.ping()).rejects.toThrow(/closed/); // close() quit the client it owns

    const after = new RedisChatStore(connect(), { prefix });
    try {
      expect(await after.findRoom('WORKSPACE', room.RoomTypeObject)).toEqual(room);
      expect(await after.listMessages(roomUuid, 0, 40)).toEqual([0, 1, 2].map((i) => ({ ...message(roomUuid, i), Seq: i + 1 })));
      expect(await after.getMessage(roomUuid, message(roomUuid, 1).Uuid)).toEqual({ ...message(roomUuid, 1), Seq: 2 });
      expect((await after.addMessage(message(roomUuid, 3))).Seq).toBe(4); // the sequence survives too
    } finally {
      await after.close();
    }
  });

  it('caps the stored list and hash on every add, not only what is listed', async () => {
    const store = new RedisChatStore(redis, { prefix, historyLimit: 3 });
    const roomUuid = freshUuid('room');
    await fill(store, roomUuid, 10);
    expect(await redis.llen(`${prefix}messages:${roomUuid}`)).toBe(3);
    expect(await redis.hlen(`${prefix}message:${roomUuid}`)).toBe(3);
    expect(await redis.lrange(`${prefix}messages:${roomUuid}`, 0, -1)).toEqual([7, 8, 9].map((i) => message(roomUuid, i).Uuid));
  });

  it('keeps the cap under concurrent adds', async () => {
    const store = new RedisChatStore(redis, { prefix, historyLimit: 5 });
    const roomUuid = freshUuid('room');
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.addMessage(message(roomUuid, i))));
    expect(await redis.llen(`${prefix}messages:${roomUuid}`)).toBe(5);
    expect(await redis.hlen(`${prefix}message:${roomUuid}`)).toBe(5);
    expect(await store.listMessages(roomUuid, 0, 40)).toHaveLength(5);
  });

  it('writes only under its prefix', async () => {
    const otherPrefix = `${prefix}other:`;
    const store = new RedisChatStore(redis, { prefix: otherPrefix });
    const roomUuid = freshUuid('room');
    await store.addMessage(message(roomUuid, 0));
    expect(await redis.exists(`${otherPrefix}messages:${roomUuid}`)).toBe(1);
    expect(await new RedisChatStore(redis, { prefix }).listMessages(roomUuid, 0, 40)).toEqual([]);
  });

  it('reads a damaged room hash as no room', async () => {
    const store = new RedisChatStore(redis, { prefix });
    const uuid = freshUuid('uuid');
    await redis.hset(`${prefix}room:${uuid}`, { Uuid: uuid, Type: 'CHANNEL' });
    expect(await store.getRoom(uuid)).toBeUndefined();
  });
});

describe('RedisChatStore room expiry', () => {
  it('every key of a room expires roomTtlMs after its last touch (create, message, touchRoom)', async () => {
    const ttl = 60_000;
    const store = new RedisChatStore(redis, { prefix, roomTtlMs: ttl });
    const uuid = freshUuid('room');
    const obj = freshUuid('obj');
    const keys = [`${prefix}room:${uuid}`, `${prefix}room-key:USER:${obj}`, `${prefix}messages:${uuid}`, `${prefix}message:${uuid}`, `${prefix}seq:${uuid}`];
    const ttls = async () => Promise.all(keys.map((k) => redis.pttl(k)));
    const within = (t: number) => t > ttl - 5000 && t <= ttl;

    await store.createRoom({ Uuid: uuid, Type: 'USER', RoomTypeObject: obj, Users: [], LastUpdated: '1' });
    const [room, roomKey] = await ttls();
    expect([within(room), within(roomKey)]).toEqual([true, true]);

    await redis.pexpire(keys[0], 1000); // as if time passed
    await store.addMessage(message(uuid, 1));
    expect((await ttls()).map(within)).toEqual([true, true, true, true, true]);

    for (const k of keys) await redis.pexpire(k, 1000);
    await store.touchRoom(uuid);
    expect((await ttls()).map(within)).toEqual([true, true, true, true, true]);
  });
});
