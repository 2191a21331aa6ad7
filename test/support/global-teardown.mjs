/**
 * Jest globalTeardown: fails the run when the tests left keys in the suite's redis-server
 * (every test deletes what it creates: see test-redis.ts), then stops the server
 * (global-setup.mjs) and removes its directory.
 */
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';

/** Up to `max` keys of the server at `url`. */
async function someKeys(url, max) {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const keys = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0' && keys.length < max);
    return keys.slice(0, max);
  } finally {
    redis.disconnect();
  }
}

export default async function globalTeardown() {
  const redis = globalThis.__SWITCHBOARD_TEST_REDIS__;
  if (!redis) return;
  let left;
  try {
    left = await someKeys(process.env.TEST_REDIS_URL, 20);
  } finally {
    try {
      process.kill(redis.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (redis.shell.exitCode === null) await new Promise((resolve) => (redis.shell.once('exit', resolve), redis.shell.stdin.end()));
    rmSync(redis.dir, { recursive: true, force: true });
    delete globalThis.__SWITCHBOARD_TEST_REDIS__;
  }
  if (left.length) throw new Error(`the tests left keys in their Redis (each test deletes what it creates): ${left.map((k) => JSON.stringify(k.slice(0, 80))).join(', ')}`);
}
