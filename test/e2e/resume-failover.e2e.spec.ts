/**
 * The instance that appends pub/sub messages to the history is SIGKILLed while a backend
 * publishes. Instances run as real processes (a Jest-hosted one cannot be SIGKILLed).
 *
 * The guarantee proved here: every message published on pub/sub while the appender dies is
 * appended exactly once, in publish order (the survivors kept what they received and had
 * not seen in the stream; the one that takes the lease over appends it after reading the
 * stream to its head). So every survivor delivers every event once, in order, with the
 * same offsets, and a client resuming from before the kill gets all of them. The price is
 * delay, not loss: events published during the takeover (at most HISTORY_LEASE_MS plus a
 * third of it) reach sessions when the lease is taken over.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { Client, REDIS_URL, SECRET, sleep, testChannels, token, type Frame } from '../support/harness.js';
import { replayOf, resumed, task, taskId } from '../support/resume.js';
import { ServiceProcess } from '../support/service-process.js';

const COUNT = 400;
const KILL_AT = 100;

describe('SIGKILL of the instance that appends pub/sub to the history', () => {
  const procs: ServiceProcess[] = [];
  const clients: Client[] = [];
  const pub = new Redis(REDIS_URL);
  afterAll(async () => {
    clients.forEach((c) => c.close());
    await Promise.all(procs.map((p) => p.stop()));
    pub.disconnect();
  });

  it('loses and doubles nothing: survivors deliver every event once, in order; a resume gets them all', async () => {
    const ch = testChannels();
    const env = { ...ch, REDIS_URL, JWT_SECRET: SECRET, HISTORY_LEASE_MS: '600', SESSION_RATE: '100000', SESSION_BURST: '10000', SESSION_QUEUE_MAX: '5000' };
    for (let i = 0; i < 3; i++) procs.push(await ServiceProcess.start(env));
    for (const p of procs) while ((await fetch(`${p.url}/readyz`)).status !== 200) await sleep(50);
    let appenders: ServiceProcess[] = [];
    for (let i = 0; i < 100 && appenders.length !== 1; i++, await sleep(50)) {
      const flags = await Promise.all(procs.map((p) => p.metric('switchboard_history_appender')));
      appenders = procs.filter((_, k) => flags[k] === 1);
    }
    expect(appenders).toHaveLength(1);
    const [victim] = appenders;
    const survivors = procs.filter((p) => p !== victim);

    const alice = token({ name: 'alice' });
    const watchers = await Promise.all(survivors.map((p) => Client.subscribed(`${p.wsUrl}/ws`, alice)));
    clients.push(...watchers);
    // Receipt times on the first survivor, to measure how long the takeover held delivery up.
    const receivedAt = new Map<string, number>();
    watchers[0].socket.on('message', (data) => {
      const id = taskId(JSON.parse(data.toString()) as Frame);
      if (id) receivedAt.set(id, Date.now());
    });
    const publishedAt = new Map<string, number>();
    await pub.publish(ch.CHANNEL_TASKS, JSON.stringify(task('k-0')));
    const from = (await watchers[0].next((f) => taskId(f) === 'k-0', 5000))['@offset'];
    await watchers[1].next((f) => taskId(f) === 'k-0', 5000);

    const ids = Array.from({ length: COUNT }, (_, n) => `k-${n + 1}`);
    let killedAt = 0;
    for (const [n, id] of ids.entries()) {
      if (n === KILL_AT) {
        killedAt = Date.now();
        victim.proc.kill('SIGKILL');
      }
      publishedAt.set(id, Date.now());
      await pub.publish(ch.CHANNEL_TASKS, JSON.stringify(task(id)));
      await sleep(5);
    }
    for (const w of watchers) await w.next((f) => taskId(f) === ids.at(-1), 15_000);

    const delivered = watchers.map((w) => w.frames.filter((f) => taskId(f)?.startsWith('k-') && taskId(f) !== 'k-0'));
    const firstAfterKill = (frames: Frame[]) => frames.findIndex((f) => taskId(f) === ids[KILL_AT]);
    // What the survivors deliver: every id once, in publish order, with the same offsets.
    for (const frames of delivered) expect(frames.map(taskId)).toEqual(ids);
    expect(delivered[0].map((f) => f['@offset'])).toEqual(delivered[1].map((f) => f['@offset']));
    expect(firstAfterKill(delivered[0])).toBe(KILL_AT);

    // What a client that was away through it all gets.
    const { client, resumed: r } = await resumed(`${survivors[1].wsUrl}/ws`, alice, from, 10_000);
    clients.push(client);
    expect(r).toEqual({ '@type': 'resumed', recovered: true, replayed: COUNT });
    expect(replayOf(client).map(taskId)).toEqual(ids);
    expect(replayOf(client).map((f) => f['@offset'])).toEqual(delivered[0].map((f) => f['@offset']));

    const lost = await Promise.all(survivors.map((p) => p.metric('switchboard_history_ingress_lost')));
    expect(lost).toEqual([0, 0]);
    // For the report: how long the takeover held delivery up.
    const delays = ids.map((id) => receivedAt.get(id)! - publishedAt.get(id)!);
    const held = delays.filter((d) => d > 100).length;
    console.log(
      `appender SIGKILLed before event ${KILL_AT + 1} of ${COUNT} (HISTORY_LEASE_MS=${env.HISTORY_LEASE_MS}): survivors delivered ${delivered.map((d) => d.length).join(' and ')} events, ` +
        `lost 0, doubled 0; ${held} events delayed > 100 ms by the takeover, longest ${Math.max(...delays)} ms (first event after the kill: ${delays[KILL_AT]} ms); killed at ${new Date(killedAt).toISOString()}`,
    );
  }, 90_000);
});
