/**
 * The history reads what it did not write defensively (PROTOCOL 6): an entry appended by XADD
 * with an id of its own choosing, a 17-digit sequence, entries without a channel or a payload,
 * messages on the feed channel it did not write, a stream deleted under the same epoch, a stream
 * whose ids ran out. None of them may spin, stop the delivery of later events, or keep /readyz
 * green while nothing is delivered; each is counted. A private redis-server: the command counts
 * are this service's alone.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { Client, metricValue, sleep, startInstance, testChannels, token, type Frame, type Instance } from '../support/harness.js';
import { PrivateRedis } from '../support/private-redis.js';
import { resumed, task, taskId } from '../support/resume.js';

describe('the history against entries it did not expect (a private redis-server)', () => {
  let redis: PrivateRedis;
  let app: Instance;
  let admin: Redis;
  let ch: Record<string, string>;
  let watcher: Client;
  let n = 0;
  const alice = token({ name: 'alice' });

  /** What the watcher received for a task published now (PUBLISH, as Cells does). */
  const published = async (timeoutMs = 5000): Promise<Frame> => {
    const id = `t-${++n}`;
    await admin.publish(ch.CHANNEL_TASKS, JSON.stringify(task(id)));
    return watcher.next((f) => taskId(f) === id, timeoutMs);
  };
  /** A task appended with XADD and the id given, as a backend may; what the watcher received for it. */
  const appended = async (id: string, timeoutMs = 5000): Promise<Frame> => {
    const name = `x-${++n}`;
    await admin.xadd(ch.HISTORY_KEY, id, 'c', ch.CHANNEL_TASKS, 'd', JSON.stringify(task(name)));
    return watcher.next((f) => taskId(f) === name, timeoutMs);
  };
  const anomalies = (kind: string) => metricValue(app.url, `switchboard_history_anomalies_total{kind="${kind}"}`);
  const commandsProcessed = async (): Promise<number> => Number(/total_commands_processed:(\d+)/.exec(await admin.info('stats'))![1]);
  const epochOf = (f: Frame) => String(f['@offset']).split('@')[1];

  beforeAll(async () => {
    redis = await PrivateRedis.create();
    await redis.start();
    admin = new Redis({ port: redis.port });
    ch = testChannels();
    // A short lease: the tick that notices plain XADDs comes every 200 ms.
    app = await startInstance({ ...ch, REDIS_URL: redis.url, HISTORY_LEASE_MS: '600' });
    watcher = await Client.subscribed(`${app.wsUrl}/ws`, alice);
    await published();
  });
  afterAll(async () => {
    watcher?.close();
    await app?.close();
    admin?.disconnect();
    await redis?.destroy();
  });

  it('delivers an entry XADDed with an id far in the future, then every later event, without spinning, and resumes from it exactly', async () => {
    const future = await appended('9999999999999999-0');
    expect(future['@offset']).toMatch(/^9999999999999999-0@/);
    const next = await published();
    expect(next['@offset']).toMatch(/^9999999999999999-1@/);
    // Idle: a reader stuck on an id it cannot parse sent ~41,000 commands in 3 s.
    const before = await commandsProcessed();
    await sleep(1500);
    expect((await commandsProcessed()) - before).toBeLessThan(60);
    expect(await anomalies('future_id')).toBeGreaterThan(0);
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
    const { client, resumed: r } = await resumed(`${app.wsUrl}/ws`, alice, future['@offset']);
    client.close();
    expect(r).toEqual({ '@type': 'resumed', recovered: true, replayed: 1 });
  });

  it('delivers an entry with a 17-digit sequence number, and what follows it', async () => {
    const top = String((await admin.xrevrange(ch.HISTORY_KEY, '+', '-', 'COUNT', 1))[0][0]);
    const id = `${top.split('-')[0]}-12345678901234567`;
    expect((await appended(id))['@offset']).toMatch(new RegExp(`^${id}@`));
    expect((await published())['@offset']).toMatch(/-12345678901234568@/);
  });

  it('skips entries without a channel or a payload (counted) and delivers the next', async () => {
    const before = await anomalies('bad_entry');
    await admin.xadd(ch.HISTORY_KEY, '*', 'x', 'y');
    await admin.xadd(ch.HISTORY_KEY, '*', 'c', ch.CHANNEL_TASKS);
    await appended('*');
    expect((await anomalies('bad_entry')) - before).toBe(2);
  });

  it('ignores messages on the feed channel that the history did not write (counted)', async () => {
    const before = await anomalies('bad_feed');
    for (const junk of ['garbage', 'e 1-0 2-0 not json', 'e 1-0 2-0 [["x","c","d",1]]', `e 1-0 2-0 ${'['.repeat(40)}`]) await admin.publish(`${ch.HISTORY_KEY}:feed`, junk);
    await published();
    expect((await anomalies('bad_feed')) - before).toBe(4);
  });

  it('starts a new epoch when the stream is deleted and written again behind what was delivered, and delivers again', async () => {
    const before = await published();
    await admin.del(ch.HISTORY_KEY); // the epoch key stays: new ids come from the clock, behind 9999999999999999-…
    const after = await published(8000);
    expect(epochOf(after)).not.toBe(epochOf(before));
    expect(await anomalies('head_backwards')).toBe(1);
  });

  it('starts a new epoch each time the stream has no id left (an XADD of the largest id), never one it used before, and delivers again', async () => {
    const epochs = new Set<string>();
    for (const time of [1, 2]) {
      const last = await appended('18446744073709551615-18446744073709551615');
      epochs.add(epochOf(last));
      const after = await published();
      expect(after['@offset']).not.toMatch(/^18446744073709551615-/);
      expect(await anomalies('ids_exhausted')).toBe(time);
      epochs.add(epochOf(after));
    }
    expect(epochs.size).toBe(3); // the first one, then a new one each time: an old offset never reads as current
  });

  it('names a new epoch each time its key is lost (deleted twice), never one it used before', async () => {
    const epochs = new Set([epochOf(await published())]);
    for (let time = 0; time < 2; time++) {
      await admin.del(`${ch.HISTORY_KEY}:epoch`);
      epochs.add(epochOf(await published(8000)));
    }
    expect(epochs.size).toBe(3);
  });
});
