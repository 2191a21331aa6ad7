/**
 * Revocations against the real Redis of TEST_REDIS_URL: the checks of one turn of the event
 * loop share one MGET, each still gets its own answer, and a failed MGET falls back to what
 * this instance saw. Every login is unique to the run; the keys expire with the revocation TTL.
 */
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Identity } from '../../src/auth/identity.js';
import { Revocations } from '../../src/auth/revocations.js';
import { loadConfig } from '../../src/config/config.js';
import { RedisConnections } from '../../src/redis/redis-connections.js';
import { TEST_REDIS_URL } from '../support/test-redis.js';

const run = randomUUID().slice(0, 8);
const identity = (user: string, iat: number): Identity => ({
  user: `${run}-${user}`,
  subject: `${run}-uuid-${user}`,
  profile: 'standard',
  roles: [],
  workspaces: [],
  subjects: [],
  iat,
});

const config = loadConfig({ REDIS_URL: TEST_REDIS_URL, TOKEN_MAX_LIFETIME_SECONDS: '60', TOKEN_EXPIRY_GRACE_SECONDS: '0' });
const connections: RedisConnections[] = [];
/** One instance (its own Redis connection), as another Switchboard instance would be. */
function instance(): Revocations {
  const c = new RedisConnections(config);
  connections.push(c);
  return new Revocations(config, c);
}

afterAll(async () => {
  await Promise.all(connections.map((c) => c.onApplicationShutdown()));
});

describe('Revocations in Redis', () => {
  const before = Math.floor(Date.now() / 1000) - 10; // iat of tokens issued before the deletions

  it('answers each of the checks made in one turn, with one MGET for all of them', async () => {
    const deleting = instance();
    deleting.revoke({ login: `${run}-carol` });
    deleting.revoke({ subject: `${run}-uuid-erin` });
    await deleting.isRevoked(identity('zed', before)); // the writes above are sent before this read's answer

    const checking = instance(); // saw none of it on the bus: only Redis knows
    const mget = jest.spyOn(Redis.prototype, 'mget');
    try {
      const users = ['alice', 'bob', 'carol', 'dave', 'erin'];
      const answers = await Promise.all(users.map((u) => checking.isRevoked(identity(u, before))));
      expect(answers).toEqual([false, false, true, false, true]);
      expect(mget).toHaveBeenCalledTimes(1);
      expect(mget.mock.calls[0][0]).toHaveLength(2 * users.length);
    } finally {
      mget.mockRestore();
    }
  });

  it('splits a large turn into bounded MGETs, every check still answered', async () => {
    const deleting = instance();
    deleting.revoke({ login: `${run}-u-7` });
    deleting.revoke({ login: `${run}-u-699` });
    await deleting.isRevoked(identity('zed', before));

    const checking = instance();
    const mget = jest.spyOn(Redis.prototype, 'mget');
    try {
      const answers = await Promise.all(Array.from({ length: 700 }, (_, i) => checking.isRevoked(identity(`u-${i}`, before))));
      expect(answers.flatMap((revoked, i) => (revoked ? [i] : []))).toEqual([7, 699]);
      expect(mget.mock.calls.length).toBeGreaterThan(1);
      for (const [keys] of mget.mock.calls) expect((keys as unknown as string[]).length).toBeLessThanOrEqual(512);
    } finally {
      mget.mockRestore();
    }
  });

  it('falls back to what this instance saw when the MGET fails, for every check of the batch', async () => {
    const checking = instance();
    checking.revoke({ login: `${run}-frank` }); // seen on the bus here
    const mget = jest.spyOn(Redis.prototype, 'mget').mockRejectedValue(new Error('Redis down'));
    try {
      const answers = await Promise.all(['frank', 'gina'].map((u) => checking.isRevoked(identity(u, before))));
      expect(answers).toEqual([true, false]);
      expect(mget).toHaveBeenCalledTimes(1);
    } finally {
      mget.mockRestore();
    }
  });
});
