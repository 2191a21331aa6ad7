import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { Client, sleep, startInstance, testChannels, token, type Instance } from '../support/harness.js';

/** A private redis-server that the test can stop and start again on the same port. */
class PrivateRedis {
  private proc?: ChildProcess;
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const probe = new Redis({ port: this.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      try {
        await probe.connect();
        await probe.quit();
        return;
      } catch {
        probe.disconnect();
        await sleep(50);
      }
    }
    throw new Error('redis-server did not start');
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    await new Promise((resolve) => {
      proc.once('exit', resolve);
      proc.kill('SIGKILL');
    });
  }
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

async function until(check: () => Promise<boolean>, ms = 8000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (await check()) return;
  throw new Error('condition not met in time');
}

describe('a vanished Redis', () => {
  let redis: PrivateRedis;
  let app: Instance | undefined;
  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it('starts without Redis, reports 503 until it is there, then delivers; survives Redis restarting', async () => {
    redis = new PrivateRedis(await freePort());
    const ch = testChannels();
    app = await startInstance({ ...ch, REDIS_URL: `redis://127.0.0.1:${redis.port}` });
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

    await redis.stop();
    await until(async () => !(await ready()));
    await redis.start();
    await until(ready);
    await until(async () => (await publish('after-restart')) > 0);
    expect(await alice.next((f) => (f.TaskUpdated as { ID?: string })?.ID === 'after-restart')).toMatchObject({ TaskUpdated: { ID: 'after-restart', TriggerOwner: 'alice' } });
    expect(alice.socket.readyState).toBe(alice.socket.OPEN);
    alice.close();
  }, 30_000);
});
