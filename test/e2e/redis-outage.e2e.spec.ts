import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { Client, sleep, startInstance, testChannels, token, type Instance } from '../support/harness.js';
import { PrivateRedis } from '../support/private-redis.js';
import { joinRoom } from '../support/chat.js';

async function until(check: () => Promise<boolean>, ms = 8000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (await check()) return;
  throw new Error('condition not met in time');
}

describe('a vanished Redis', () => {
  let redis: PrivateRedis;
  let app: Instance | undefined;
  afterAll(async () => {
    await app?.close();
    await redis?.destroy();
  });

  it('starts without Redis, reports 503 until it is there, then delivers; survives Redis restarting', async () => {
    redis = await PrivateRedis.create();
    const ch = testChannels();
    app = await startInstance({ ...ch, REDIS_URL: redis.url });
    const ready = async () => (await fetch(`${app!.url}/readyz`)).status === 200;
    expect((await fetch(`${app.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);

    const alice = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'alice' }));
    const publish = async (id: string) => {
      const pub = new Redis({ port: redis.port });
      try {
        return await pub.publish(ch.CHANNEL_TASKS, JSON.stringify({ TaskUpdated: { ID: id, TriggerOwner: 'alice' } }));
      } finally {
        pub.disconnect();
      }
    };

    await redis.start();
    await until(ready);
    await until(async () => (await publish('first')) > 0);
    expect(await alice.next((f) => (f.TaskUpdated as { ID?: string })?.ID === 'first')).toMatchObject({ TaskUpdated: { ID: 'first', TriggerOwner: 'alice' } });

    // A chat POST needs Redis (the room's history): while it is gone, `unavailable`, never `internal`.
    const chat = await Client.subscribed(`${app.wsUrl}/chat`, token({ name: 'alice' }));
    const room = await joinRoom(chat, { Type: 'GLOBAL', RoomTypeObject: 'outage' });
    const post = (id: string) => {
      chat.send({ '@type': 'POST', id, Message: { RoomUuid: room.Uuid, Message: id } });
      return chat.next((f) => f.id === id, 10_000);
    };
    expect(await post('p-before')).toMatchObject({ '@type': 'ack' });

    await redis.stop();
    await until(async () => !(await ready()));
    expect(await post('p-during')).toEqual({ '@type': 'error', error: 'storage unavailable: try again', code: 'unavailable', id: 'p-during' });
    await redis.start();
    await until(ready);
    expect(await post('p-after')).toMatchObject({ '@type': 'ack' });
    chat.close();
    await until(async () => (await publish('after-restart')) > 0);
    expect(await alice.next((f) => (f.TaskUpdated as { ID?: string })?.ID === 'after-restart')).toMatchObject({ TaskUpdated: { ID: 'after-restart', TriggerOwner: 'alice' } });
    expect(alice.socket.readyState).toBe(alice.socket.OPEN);
    alice.close();
  }, 60_000);
});
