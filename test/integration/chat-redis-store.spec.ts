/**
 * The chat's Redis parts (RedisChatStore, RedisPresenceBoard, RedisWindowLimiter) against a
 * real single Redis and a real Redis Cluster, each started here: in a cluster every script and
 * MULTI must touch keys of one slot, else Redis answers CROSSSLOT.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { RedisChatStore } from '../../src/chat/redis-chat-store.js';
import { RedisPresenceBoard } from '../../src/chat/presence-board.js';
import { RedisWindowLimiter } from '../../src/chat/window-limiter.js';
import type { RedisClient } from '../../src/redis/redis-connections.js';
import { chatStoreContract, fill, freshUuid, message } from '../support/chat-store-contract.js';
import { MODES, startRedis, type RedisUnderTest } from '../support/redis-modes.js';
import { until } from '../support/redis-topology.js';

jest.setTimeout(30_000);

describe.each(MODES)('chat in Redis (%s)', (mode) => {
  const prefix = `switchboard-test:${randomUUID()}:chat:`;
  const hashTags = mode === 'cluster';
  /** What the store names a room's own keys. */
  const key = (kind: 'room' | 'messages' | 'message' | 'seq' | 'presence', uuid: string) => `${prefix}${kind}:${hashTags ? `{${uuid}}` : uuid}`;
  let redis: RedisUnderTest;
  let client: RedisClient;
  const connect = () => redis.connections().commands({ maxRetriesPerRequest: 1 });

  beforeAll(async () => {
    redis = await startRedis(mode);
    client = connect();
  });
  afterAll(() => redis.stop());

  chatStoreContract(`RedisChatStore (${mode})`, (historyLimit) => new RedisChatStore(client, { prefix, historyLimit, hashTags }));

  describe('RedisChatStore', () => {
    it('rooms and messages survive a new client and a new store (a restart)', async () => {
      const roomUuid = freshUuid('room');
      const room = { Uuid: roomUuid, Type: 'WORKSPACE' as const, RoomTypeObject: freshUuid('ws'), RoomLabel: 'Projects', Users: ['alice'], LastUpdated: '1700000000' };
      const first = connect();
      const before = new RedisChatStore(first, { prefix, hashTags });
      await before.saveRoom(room);
      await fill(before, roomUuid, 3);
      await before.close();
      await expect(first.ping()).rejects.toThrow(); // close() quit the client it owns

      const after = new RedisChatStore(connect(), { prefix, hashTags });
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
      const store = new RedisChatStore(client, { prefix, historyLimit: 3, hashTags });
      const roomUuid = freshUuid('room');
      await fill(store, roomUuid, 10);
      expect(await client.llen(key('messages', roomUuid))).toBe(3);
      expect(await client.hlen(key('message', roomUuid))).toBe(3);
      expect(await client.lrange(key('messages', roomUuid), 0, -1)).toEqual([7, 8, 9].map((i) => message(roomUuid, i).Uuid));
    });

    it('keeps the cap under concurrent adds', async () => {
      const store = new RedisChatStore(client, { prefix, historyLimit: 5, hashTags });
      const roomUuid = freshUuid('room');
      await Promise.all(Array.from({ length: 40 }, (_, i) => store.addMessage(message(roomUuid, i))));
      expect(await client.llen(key('messages', roomUuid))).toBe(5);
      expect(await client.hlen(key('message', roomUuid))).toBe(5);
      expect(await store.listMessages(roomUuid, 0, 40)).toHaveLength(5);
    });

    it('writes only under its prefix', async () => {
      const otherPrefix = `${prefix}other:`;
      const store = new RedisChatStore(client, { prefix: otherPrefix, hashTags });
      const roomUuid = freshUuid('room');
      await store.addMessage(message(roomUuid, 0));
      expect(await client.exists(`${otherPrefix}messages:${hashTags ? `{${roomUuid}}` : roomUuid}`)).toBe(1);
      expect(await new RedisChatStore(client, { prefix, hashTags }).listMessages(roomUuid, 0, 40)).toEqual([]);
    });

    it('reads a damaged room hash as no room', async () => {
      const store = new RedisChatStore(client, { prefix, hashTags });
      const uuid = freshUuid('uuid');
      await client.hset(key('room', uuid), { Uuid: uuid, Type: 'CHANNEL' });
      expect(await store.getRoom(uuid)).toBeUndefined();
    });

    it('every key of a room expires roomTtlMs after its last touch (create, message, touchRoom)', async () => {
      const ttl = 60_000;
      const store = new RedisChatStore(client, { prefix, roomTtlMs: ttl, hashTags });
      const uuid = freshUuid('room');
      const obj = freshUuid('obj');
      const keys = [key('room', uuid), `${prefix}room-key:USER:${obj}`, key('messages', uuid), key('message', uuid), key('seq', uuid)];
      const ttls = async () => Promise.all(keys.map((k) => client.pttl(k)));
      const within = (t: number) => t > ttl - 5000 && t <= ttl;

      await store.createRoom({ Uuid: uuid, Type: 'USER', RoomTypeObject: obj, Users: [], LastUpdated: '1' });
      const [room, roomKey] = await ttls();
      expect([within(room), within(roomKey)]).toEqual([true, true]);

      await client.pexpire(keys[0], 1000); // as if time passed
      await client.pexpire(keys[1], 1000);
      await store.addMessage(message(uuid, 1));
      expect((await ttls()).map(within)).toEqual([true, true, true, true, true]);

      for (const k of keys) await client.pexpire(k, 1000);
      await store.touchRoom(uuid);
      expect((await ttls()).map(within)).toEqual([true, true, true, true, true]);
    });

    it('an index entry left by a creator whose room hash is gone is repaired by the next creation', async () => {
      const store = new RedisChatStore(client, { prefix, hashTags });
      const obj = freshUuid('obj');
      await client.set(`${prefix}room-key:WORKSPACE:${obj}`, 'a-room-that-is-gone');
      const room = { Uuid: freshUuid('uuid'), Type: 'WORKSPACE' as const, RoomTypeObject: obj, Users: [], LastUpdated: '1' };
      expect(await store.createRoom(room)).toEqual(room);
      expect((await store.findRoom('WORKSPACE', obj))?.Uuid).toBe(room.Uuid);
    });
  });

  describe('RedisPresenceBoard', () => {
    it('merges every instance’s users of a room and withdraws one', async () => {
      const [a, b] = ['instance-a', 'instance-b'].map((id) => new RedisPresenceBoard(client, id, 20_000, prefix, hashTags));
      const room = freshUuid('room');
      expect(await a.write(room, ['carol', 'alice'])).toEqual(['alice', 'carol']);
      expect(await b.write(room, ['bob'])).toEqual(['alice', 'bob', 'carol']);
      expect(await a.write(room, [])).toEqual(['bob']);
      expect(await a.read(room)).toEqual(['bob']);
      expect(await client.hkeys(key('presence', room))).toEqual(['instance-b']);
    });
  });

  describe('RedisWindowLimiter', () => {
    it('allows `limit` hits per window and counts across instances', async () => {
      const name = `post:${freshUuid('user')}`;
      const [a, b] = [new RedisWindowLimiter(client, `${prefix}limit:`), new RedisWindowLimiter(connect(), `${prefix}limit:`)];
      expect([await a.take(name, 3, 60_000), await b.take(name, 3, 60_000), await a.take(name, 3, 60_000), await b.take(name, 3, 60_000)]).toEqual([true, true, true, false]);
    });

    // Mutant: the counter created without an expiry, so a user who reached the limit stayed muted for good.
    it('lets the user in again once the window is over: the counter expires with its window', async () => {
      const limiter = new RedisWindowLimiter(client, `${prefix}limit:`);
      const name = `join:${freshUuid('user')}`;
      expect(await limiter.take(name, 1, 300)).toBe(true);
      expect(await limiter.take(name, 1, 300)).toBe(false);
      const ttl = await client.pttl(`${prefix}limit:${name}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(300);
      await until('the window to end', async () => (await client.exists(`${prefix}limit:${name}`)) === 0, 5000);
      expect(await limiter.take(name, 1, 300)).toBe(true);
    });
  });
});
