import { afterEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { Client, sleep, startInstance, testChannels, token, type Instance } from '../support/harness.js';
import { PrivateRedis } from '../support/private-redis.js';
import { replayOf, resumed, task, taskId } from '../support/resume.js';

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (await check()) return;
  throw new Error('condition not met in time');
}

describe('resume across a Redis stop and restart (a private redis-server)', () => {
  let redis: PrivateRedis | undefined;
  let app: Instance | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    clients.forEach((c) => c.close());
    await app?.close();
    await redis?.destroy();
  });

  async function setUp(persistent: boolean) {
    redis = await PrivateRedis.create(persistent);
    await redis.start();
    const ch = testChannels();
    app = await startInstance({ ...ch, REDIS_URL: redis.url });
    const ready = async () => (await fetch(`${app!.url}/readyz`)).status === 200;
    await until(ready);
    const alice = token({ name: 'alice' });
    const watcher = await Client.subscribed(`${app.wsUrl}/ws`, alice);
    clients.push(watcher);
    const publish = async (id: string) => {
      const pub = new Redis({ port: redis!.port });
      try {
        return await pub.publish(ch.CHANNEL_TASKS, JSON.stringify(task(id)));
      } finally {
        pub.disconnect();
      }
    };
    // Until the appender lease is taken, a message waits in the ledger: it is delivered either way.
    await publish('r-0');
    const from = (await watcher.next((f) => taskId(f) === 'r-0', 5000))['@offset'] as string;
    await publish('r-1');
    await publish('r-2');
    await watcher.next((f) => taskId(f) === 'r-2', 5000);
    await redis.stop();
    await until(async () => !(await ready()));
    const history = (await (await fetch(`${app.url}/readyz`)).json()) as { history: boolean };
    expect(history.history).toBe(false);
    await redis.start();
    await until(ready);
    await until(async () => (await publish('r-3')) > 0);
    await watcher.next((f) => taskId(f) === 'r-3', 8000);
    expect(watcher.socket.readyState).toBe(watcher.socket.OPEN);
    return { alice, from, watcher };
  }

  it('keeps the sockets, delivers again, and replays what was appended before the outage when Redis kept its data', async () => {
    const { alice, from, watcher } = await setUp(true);
    const { client, resumed: r } = await resumed(`${app!.wsUrl}/ws`, alice, from);
    clients.push(client);
    expect(r).toEqual({ '@type': 'resumed', recovered: true, replayed: 3 });
    expect(replayOf(client).map(taskId)).toEqual(['r-1', 'r-2', 'r-3']);
    // Same epoch before and after: the history survived.
    const epochs = new Set(watcher.frames.filter((f) => typeof f['@offset'] === 'string').map((f) => (f['@offset'] as string).split('@')[1]));
    expect(epochs.size).toBe(1);
  }, 40_000);

  it('gives an event appended after a FLUSHALL the new epoch, once, though the read waiting then was sent before it', async () => {
    redis = await PrivateRedis.create(false);
    await redis.start();
    const ch = testChannels();
    app = await startInstance({ ...ch, REDIS_URL: redis.url });
    await until(async () => (await fetch(`${app!.url}/readyz`)).status === 200);
    const watcher = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'alice' }));
    clients.push(watcher);
    const admin = new Redis({ port: redis.port });
    try {
      await admin.publish(ch.CHANNEL_TASKS, JSON.stringify(task('f-0')));
      const before = (await watcher.next((f) => taskId(f) === 'f-0', 5000))['@offset'] as string;
      await admin.flushall();
      // The lease tick (every second) sees the epoch gone while the reader still waits in its XREAD BLOCK, and makes a new one.
      await until(async () => (await admin.exists(`${ch.HISTORY_KEY}:epoch`)) === 1);
      await admin.publish(ch.CHANNEL_TASKS, JSON.stringify(task('f-1')));
      const after = (await watcher.next((f) => taskId(f) === 'f-1', 8000))['@offset'] as string;
      expect(after.split('@')[1]).not.toBe(before.split('@')[1]);
      // f-1 once: a later event (the barrier) arrives after any second copy would have.
      await admin.publish(ch.CHANNEL_TASKS, JSON.stringify(task('f-2')));
      await watcher.next((f) => taskId(f) === 'f-2', 8000);
      expect(watcher.frames.filter((f) => taskId(f) === 'f-1')).toHaveLength(1);
    } finally {
      admin.disconnect();
    }
  }, 40_000);

  it('answers recovered:false after a Redis that lost its data: a new epoch', async () => {
    const { alice, from, watcher } = await setUp(false);
    const offsetOf = (id: string) => watcher.frames.find((f) => taskId(f) === id)!['@offset'] as string;
    expect(offsetOf('r-3').split('@')[1]).not.toBe(from.split('@')[1]);
    const { client, resumed: r } = await resumed(`${app!.wsUrl}/ws`, alice, from);
    clients.push(client);
    expect(r).toEqual({ '@type': 'resumed', recovered: false, reason: 'other_epoch' });
  }, 40_000);
});
