/**
 * The one Redis every test uses (TEST_REDIS_URL: the suite's own redis-server, started by
 * global-setup.mjs on a free port, unless the variable was set before Jest started), and the
 * data the tests write there: every service a test file starts keeps its keys (chat rooms,
 * presence and limits, the history stream and its epoch, revocation markers) under one
 * prefix of the file's own, deleted once the file's tests are done (after its instances
 * closed: instances of one file share rooms, and a restart test reads them back).
 * global-teardown.mjs fails the run if any key is left in the suite's own server.
 */
import { afterAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';

if (!process.env.TEST_REDIS_URL) throw new Error('TEST_REDIS_URL is not set: run the tests with Jest (its globalSetup starts a redis-server)');
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;

/** Every key this test file's services write starts with this. */
export const TEST_KEY_PREFIX = `switchboard-test:${randomBytes(6).toString('hex')}:`;
/** CHAT_KEY_PREFIX and REVOCATIONS_KEY of every service this test file starts. */
export const CHAT_KEY_PREFIX = `${TEST_KEY_PREFIX}chat:`;
export const REVOCATIONS_KEY = `${TEST_KEY_PREFIX}revoked`;

/** Every key under `prefix`, by SCAN (never KEYS). */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Deletes every key under `prefix`; a Redis that is not there has nothing to delete. */
export async function deleteKeysUnder(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    const keys = await keysUnder(redis, prefix);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  } catch {
    // No Redis (embedded-mode files): no chat keys were written.
  } finally {
    redis.disconnect();
  }
}

// Registered at the top level of every test file that imports this module: runs after the
// file's own afterAll hooks, i.e. once its instances are closed.
afterAll(() => deleteKeysUnder(TEST_KEY_PREFIX));
