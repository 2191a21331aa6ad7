import { describe, it, expect } from '@jest/globals';
import { MemoryChatStore } from '../../src/chat/memory-chat-store.js';
import type { ChatRoom } from '../../src/chat/chat-types.js';
import { MemoryWindowLimiter } from '../../src/chat/window-limiter.js';

describe('MemoryWindowLimiter', () => {
  it.each<[string, number, number[], boolean[]]>([
    // name, limit, hit times (ms, window 1000), answers
    ['under the limit', 3, [0, 10, 20], [true, true, true]],
    ['over the limit in one window', 2, [0, 10, 20, 999], [true, true, false, false]],
    ['a new window starts after the first hit + window', 1, [0, 500, 1000, 1001], [true, false, true, false]],
  ])('%s', async (_name, limit, times, expected) => {
    let now = 0;
    const limiter = new MemoryWindowLimiter(100, () => now);
    const answers: boolean[] = [];
    for (const t of times) {
      now = t;
      answers.push(await limiter.take('post:alice', limit, 1000));
    }
    expect(answers).toEqual(expected);
  });

  it('keys are independent', async () => {
    const limiter = new MemoryWindowLimiter(100, () => 0);
    expect(await limiter.take('post:alice', 1, 1000)).toBe(true);
    expect(await limiter.take('post:alice', 1, 1000)).toBe(false);
    expect(await limiter.take('post:bob', 1, 1000)).toBe(true);
  });

  it('holds at most maxKeys windows: expired ones are purged, live ones are never forgotten (refused instead)', async () => {
    let now = 0;
    const limiter = new MemoryWindowLimiter(3, () => now);
    for (const u of ['a', 'b', 'c']) await limiter.take(u, 5, 1000);
    expect(await limiter.take('d', 5, 1000)).toBe(false); // full of live windows
    now = 1000;
    expect(await limiter.take('d', 5, 1000)).toBe(true); // the expired ones went
    expect(limiter.size).toBe(1);
  });
});

describe('MemoryChatStore room expiry', () => {
  const room = (uuid: string, obj: string): ChatRoom => ({ Uuid: uuid, Type: 'USER', RoomTypeObject: obj, Users: [], LastUpdated: '0' });

  it('forgets a room (key, history) a TTL after its last touch; touching, posting or joining keeps it', async () => {
    let now = 0;
    const store = new MemoryChatStore({ roomTtlMs: 1000 }, () => now);
    await store.createRoom(room('r1', 'alice'));
    await store.createRoom(room('r2', 'bob'));
    await store.createRoom(room('r3', 'carol'));
    now = 600;
    await store.touchRoom('r2');
    await store.addMessage({ Uuid: 'm', RoomUuid: 'r3', Message: 'hi', Author: 'carol', Timestamp: '1' });
    now = 1000;
    expect(await store.getRoom('r1')).toBeUndefined();
    expect(await store.findRoom('USER', 'alice')).toBeUndefined();
    expect((await store.findRoom('USER', 'bob'))?.Uuid).toBe('r2');
    expect(await store.listMessages('r3', 0, 10)).toHaveLength(1);
    now = 1600;
    expect(await store.getRoom('r2')).toBeUndefined();
    expect(await store.getRoom('r3')).toBeUndefined();
    expect(await store.listMessages('r3', 0, 10)).toEqual([]);
    // The name is free again: a new room takes it.
    expect((await store.createRoom(room('r4', 'alice'))).Uuid).toBe('r4');
  });

  it('touching a room that is gone does not bring it back', async () => {
    let now = 0;
    const store = new MemoryChatStore({ roomTtlMs: 1000 }, () => now);
    await store.createRoom(room('r1', 'alice'));
    now = 1000;
    expect(await store.getRoom('r1')).toBeUndefined();
    await store.touchRoom('r1');
    expect(await store.getRoom('r1')).toBeUndefined();
  });
});
