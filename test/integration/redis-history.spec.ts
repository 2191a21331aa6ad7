/**
 * RedisHistory's ingress of plain pub/sub against the real Redis of TEST_REDIS_URL: one
 * instance at a time appends (a lease, checked by the append script itself), and the one that
 * takes the lease over appends what the previous holder did not, never what it did. The ticks
 * are driven by hand (a lease of a minute): the takeover is tested before any other read could
 * reconcile the ledger.
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Redis, type RedisOptions } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { RedisHistory } from '../../src/history/redis-history.js';
import { TEST_REDIS_URL } from '../support/test-redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (await check()) return;
  throw new Error('condition not met in time');
}

describe('RedisHistory: who appends pub/sub messages', () => {
  const key = `test.${randomBytes(4).toString('hex')}.history`;
  const redis = new Redis(TEST_REDIS_URL);
  const opened: Redis[] = [];
  const histories: RedisHistory[] = [];
  const connect = (options: RedisOptions) => {
    const r = new Redis(TEST_REDIS_URL, options);
    opened.push(r);
    return r;
  };
  /** Runs one lease tick now (they come every 20 s with this lease). */
  const tick = (h: RedisHistory) => (h as unknown as { tick(): Promise<void> }).tick();
  /** A started history, attached (its first tick may come before its connection is up: ticked again by hand). */
  const history = async () => {
    const h = new RedisHistory(connect, { key, maxLength: 1000, ttlSeconds: 300, leaseMs: 60_000, cacheBytes: 1 << 20 });
    histories.push(h);
    void h.start(() => undefined);
    await until(async () => {
      await tick(h);
      return h.readable;
    });
    return h;
  };
  const payloads = async () => (await redis.xrange(key, '-', '+')).map(([, fields]) => fields[fields.indexOf('d') + 1]);

  afterEach(async () => {
    for (const h of histories.splice(0)) await h.close();
    opened.splice(0).forEach((r) => r.disconnect());
    await redis.del(key, `${key}:epoch`, `${key}:lease`);
  });

  it('the holder appends; once its lease is another\'s, the script refuses its appends (fencing)', async () => {
    const a = await history();
    await until(() => a.isLeader);
    a.ingest('c', 'm1');
    await until(async () => (await payloads()).length === 1);
    // The lease went to someone else while this holder was away (GC pause, network).
    await redis.set(`${key}:lease`, 'someone-else', 'PX', 60_000);
    a.ingest('c', 'm2');
    await until(() => !a.isLeader);
    expect(await payloads()).toEqual(['m1']);
  });

  it('the next holder appends what the previous one did not, and nothing it did (the catch-up against its ledger)', async () => {
    const a = await history();
    await until(() => a.isLeader);
    const b = await history();
    expect(b.isLeader).toBe(false);
    // Both receive the same three messages; the holder appends the first two, then dies.
    for (const m of ['m1', 'm2']) {
      b.ingest('c', m);
      a.ingest('c', m);
    }
    await until(async () => (await payloads()).length === 2);
    b.ingest('c', 'm3');
    await a.close(); // lets the lease go
    await tick(b);
    expect(b.isLeader).toBe(true);
    await until(async () => (await payloads()).length >= 3);
    expect(await payloads()).toEqual(['m1', 'm2', 'm3']);
  });

  it('a message still unannounced makes a non-holder take a lease its holder let go, without waiting for its tick', async () => {
    const a = await history();
    await until(() => a.isLeader);
    const b = await history();
    a.ingest('c', 'm1');
    b.ingest('c', 'm1');
    await until(async () => (await payloads()).length === 1);
    await a.close(); // a rolling restart: the lease is let go
    // b's next tick is 20 s away (a lease of a minute): only the unannounced message can make it take the lease now.
    b.ingest('c', 'm2');
    await until(async () => (await payloads()).length === 2, 5000);
    expect(b.isLeader).toBe(true);
    expect(await payloads()).toEqual(['m1', 'm2']);
  });

  afterAll(() => redis.disconnect());
});
