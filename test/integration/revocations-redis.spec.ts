/**
 * Revocations against a real single Redis and a real Redis Cluster (each started here): the
 * checks of one turn of the event loop share one MGET (one slot in a cluster), each still gets
 * its own answer, a later turn starts a new batch, a failed MGET falls back to what this
 * instance saw, and markers lost by Redis are written again by the instances that know them.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Cluster, Redis } from 'ioredis';
import type { Identity } from '../../src/auth/identity.js';
import { Revocations } from '../../src/auth/revocations.js';
import { loadConfig } from '../../src/config/config.js';
import { MODES, startRedis, unique, type RedisUnderTest } from '../support/redis-modes.js';

jest.setTimeout(60_000);

const before = Math.floor(Date.now() / 1000) - 10; // iat of tokens issued before the deletions
const identity = (user: string, subject = `uuid-${user}`, iat = before): Identity => ({ user, subject, profile: 'standard', roles: [], workspaces: [], subjects: [], iat });

describe.each(MODES)('Revocations in Redis (%s)', (mode) => {
  let redis: RedisUnderTest;
  const instances: Revocations[] = [];
  /** One instance (its own Redis connection), as another Switchboard instance would be. */
  const instance = (env: Record<string, string> = {}) => {
    const extra = { TOKEN_MAX_LIFETIME_SECONDS: '60', TOKEN_EXPIRY_GRACE_SECONDS: '0', ...env };
    const r = new Revocations(loadConfig({ ...redis.env, ...extra }), redis.connections(extra));
    instances.push(r);
    return r;
  };
  /** MGET as each mode's client class sends it. */
  const spyMget = () => jest.spyOn((mode === 'cluster' ? Cluster : Redis).prototype, 'mget');

  beforeAll(async () => {
    redis = await startRedis(mode);
    // The first check of a new Redis waits for the markers to settle (SETTLE_MS): done once here.
    await instance().isRevoked(identity('warm-up'));
  });
  afterAll(async () => {
    instances.forEach((r) => r.onModuleDestroy());
    await redis.stop();
  });

  /** Deletes `login` on a fresh instance and waits until Redis has the marker. */
  async function deleted(login: string, subject?: string): Promise<Revocations> {
    const deleting = instance();
    deleting.revoke({ login, subject });
    await deleting.isRevoked(identity('zed')); // the write above is sent before this read's answer
    return deleting;
  }

  it('answers each of the checks made in one turn, with one MGET for all of them', async () => {
    const users = ['alice', 'bob', 'carol', 'dave', 'erin'].map(unique);
    await deleted(users[2]);
    await deleted(unique('someone'), `uuid-${users[4]}`);

    const checking = instance(); // saw none of it on the bus: only Redis knows
    const mget = spyMget();
    try {
      const answers = await Promise.all(users.map((u) => checking.isRevoked(identity(u))));
      expect(answers).toEqual([false, false, true, false, true]);
      expect(mget).toHaveBeenCalledTimes(1);
      expect(mget.mock.calls[0][0]).toHaveLength(1 + 2 * users.length); // the markers' SINCE key first
    } finally {
      mget.mockRestore();
    }
  });

  it('splits a large turn into bounded MGETs, every check still answered', async () => {
    const users = Array.from({ length: 700 }, (_, i) => unique(`u-${i}`));
    await deleted(users[7]);
    await deleted(users[699]);

    const checking = instance();
    const mget = spyMget();
    try {
      const answers = await Promise.all(users.map((u) => checking.isRevoked(identity(u))));
      expect(answers.flatMap((revoked, i) => (revoked ? [i] : []))).toEqual([7, 699]);
      expect(mget.mock.calls.length).toBeGreaterThan(1);
      for (const [keys] of mget.mock.calls) expect((keys as unknown as string[]).length).toBeLessThanOrEqual(512);
    } finally {
      mget.mockRestore();
    }
  });

  // Mutant: the batch kept open after its MGET was sent; a later turn's keys were added to a
  // sent MGET and read as nothing, so Redis revocations were ignored after an instance's first turn.
  it('starts a new batch after one was sent: a deletion made after the first turn is seen', async () => {
    const checking = instance();
    const hank = unique('hank');
    expect(await checking.isRevoked(identity(hank))).toBe(false);
    await deleted(hank);
    expect(await checking.isRevoked(identity(hank))).toBe(true);
  });

  // Mutant: the local map read before the Redis answer instead of after it.
  it('counts a deletion seen on the bus while its check was waiting for Redis', async () => {
    const checking = instance();
    const ivy = unique('ivy');
    const check = checking.isRevoked(identity(ivy));
    // After the batch's MGET went out (its setImmediate was queued first), before its answer:
    // the marker reaches Redis after the MGET, so only the local re-check can see it.
    await new Promise<void>((resolve) => setImmediate(() => resolve(checking.revoke({ login: ivy }))));
    expect(await check).toBe(true);
  });

  it('falls back to what this instance saw when the MGET fails, for every check of the batch', async () => {
    const checking = instance();
    const [frank, gina] = [unique('frank'), unique('gina')];
    checking.revoke({ login: frank }); // seen on the bus here
    const mget = spyMget().mockRejectedValue(new Error('Redis down'));
    try {
      const answers = await Promise.all([frank, gina].map((u) => checking.isRevoked(identity(u))));
      expect(answers).toEqual([true, false]);
      expect(mget).toHaveBeenCalledTimes(1);
    } finally {
      mget.mockRestore();
    }
  });

  // Issue 19: after a FLUSHALL a new instance accepted tokens that the instance which saw the deletion refused.
  it('after Redis lost everything, a new instance refuses what the instance that saw the deletion refuses', async () => {
    const judy = unique('judy');
    const saw = await deleted(judy);
    const fresh = instance();
    await fresh.isRevoked(identity('zed')); // connected: its next check goes out right after the flush
    await redis.onEveryMaster('FLUSHALL');
    // The new instance asks first (the one that saw it, asked first, would write the marker again at once).
    expect(await fresh.isRevoked(identity(judy))).toBe(true);
    expect(await saw.isRevoked(identity(judy))).toBe(true);
    // Written again, not only known locally: yet another instance reads it at once.
    expect(await instance().isRevoked(identity(judy))).toBe(true);
  });

  // A failover can lose the last writes and keep the rest: the instances' reconnection is the signal.
  it('after a reconnection to a server that lost a marker, the marker is written again', async () => {
    const kate = unique('kate');
    const saw = await deleted(kate);
    const other = instance();
    expect(await other.isRevoked(identity(kate))).toBe(true);
    // The marker alone is lost (the markers' SINCE key survives), then every client is cut off.
    const prefix = mode === 'cluster' ? '{switchboard:revoked}:' : 'switchboard:revoked:';
    await redis.connections().commands().del(`${prefix}user:${kate}`);
    await redis.onEveryMaster('CLIENT', 'KILL', 'TYPE', 'normal');
    expect(await other.isRevoked(identity(kate))).toBe(true);
    expect(await instance().isRevoked(identity(kate))).toBe(true);
    expect(await saw.isRevoked(identity(kate))).toBe(true);
  });

  it('keeps its markers under REVOCATIONS_KEY: another deployment on the same Redis neither sees nor loses them', async () => {
    const lena = unique('lena');
    const key = unique('tenant');
    const tenant = () => instance({ REVOCATIONS_KEY: key });
    const deleting = tenant();
    deleting.revoke({ login: lena });
    await deleting.isRevoked(identity('zed'));
    const tagged = mode === 'cluster' ? `{${key}}` : key;
    expect(await redis.connections().commands().exists(`${tagged}:user:${lena}`)).toBe(1);
    expect(await tenant().isRevoked(identity(lena))).toBe(true);
    expect(await instance().isRevoked(identity(lena))).toBe(false);
  });

  describe('logins that differ in case', () => {
    it.each<[string, Record<string, string>, boolean]>([
      ['compared exactly, as Cells does by default', {}, false],
      ['compared without case with LOGIN_CASE_INSENSITIVE (Cells with loginCI)', { LOGIN_CASE_INSENSITIVE: 'true' }, true],
    ])('%s', async (_name, env, revoked) => {
      const login = unique('alice');
      const deleting = instance(env);
      deleting.revoke({ login });
      await deleting.isRevoked(identity('zed'));
      const upper = identity(login.toUpperCase(), unique('other-subject'));
      expect(await deleting.isRevoked(upper)).toBe(revoked);
      expect(await instance(env).isRevoked(upper)).toBe(revoked);
    });
  });
});
