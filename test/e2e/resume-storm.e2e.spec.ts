/**
 * Issue 19, resume storms, at a small scale: 300 clients resume at once over a history of 600
 * entries of ~4 KB, against a service process with a small heap (--max-old-space-size=96) and
 * a small memory budget (MEMORY_BUDGET_MB=256). The process must live, every client get a
 * `resumed` frame (recovered, or not with a reason PROTOCOL 6 documents for a loaded instance),
 * a recovered client exactly the entries its user may see after its offset, in order, and
 * then live events again, none of the replay twice. Before the replay bounds and the shared
 * cache of recent entries, every resume read and held its own copy of the history: the
 * process ran out of heap and died (check: SERVICE_DIST=<a build of ac6e677>/dist, see
 * service-process.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { Backend, Client, REDIS_URL, SECRET, testChannels, token, waitSubscribed, type Frame } from '../support/harness.js';
import { replayOf } from '../support/resume.js';
import { ServiceProcess } from '../support/service-process.js';

const MIB = 1024 * 1024;
const BUDGET_MB = 256;
const CLIENTS = 300;
const USERS = 10;
const ENTRIES = 600;
/** ~4 KB per entry, as in the issue. */
const PAD = 'x'.repeat(4000);
/** Reasons a well-formed, current offset may still be refused by a loaded instance (PROTOCOL 6). */
const LOAD_REASONS = ['memory', 'timeout', 'busy'];

const user = (u: number) => `storm-${u}`;
/** The storm entry a frame is, or undefined. */
const entryOf = (f: Frame): number | undefined => (typeof f.storm === 'number' ? f.storm : undefined);

function peakRss(pid: number): number {
  try {
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
  } catch {
    return NaN;
  }
}

describe('a resume storm stays within the memory budget', () => {
  let service: ServiceProcess;
  let backend: Backend;
  let ch: Record<string, string>;
  const clients: Client[] = [];

  beforeAll(async () => {
    ch = testChannels();
    backend = new Backend();
    service = await ServiceProcess.start(
      { JWT_SECRET: SECRET, REDIS_URL, ...ch, MEMORY_BUDGET_MB: String(BUDGET_MB) },
      { nodeArgs: ['--max-old-space-size=96'] },
    );
    await waitSubscribed(backend, ch.CHANNEL_PUSH);
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.socket.terminate();
    await service?.stop();
    await backend?.close();
  });

  it(`${CLIENTS} clients resuming at once over ${ENTRIES} entries of 4 KB: the process lives, each is answered, the recovered ones get exactly their entries, then live events`, async () => {
    // One watcher per user: the offsets the resuming clients start from.
    const watchers = await Promise.all(Array.from({ length: USERS }, (_, u) => Client.subscribed(`${service.wsUrl}/ws`, token({ name: user(u) }))));
    clients.push(...watchers);
    for (let u = 0; u < USERS; u++) await backend.publish(ch.CHANNEL_PUSH, { pushToUser: user(u), payload: { start: u } });
    for (let i = 0; i < ENTRIES; i++) await backend.publish(ch.CHANNEL_PUSH, { pushToUser: user(i % USERS), payload: { storm: i, pad: PAD } });
    // Barrier: each user's last entry has reached its watcher, so the history holds them all.
    await Promise.all(watchers.map((w, u) => w.next((f) => entryOf(f) === ENTRIES - USERS + u, 15_000)));
    /** Per user, the offsets it was sent: its start mark, then its entries, in order. */
    const offsets = watchers.map((w) => w.frames.filter((f) => f.start !== undefined || entryOf(f) !== undefined).map((f) => ({ offset: f['@offset'] as string, entry: entryOf(f) })));
    offsets.forEach((list) => expect(list).toHaveLength(1 + ENTRIES / USERS));

    // Client k of user u resumes after the (k / USERS % 5)-th of them: offsets of its own, shared by a few.
    const plan = Array.from({ length: CLIENTS }, (_, k) => ({ u: k % USERS, from: Math.floor(k / USERS) % 5 }));
    const pid = service.proc.pid!;
    const before = peakRss(pid);
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    // Sampled as well, so that the peak is known if the process dies.
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, peakRss(pid) || 0)), 50);
    const died = service.exited.then(() => Promise.reject(new Error(`service died: ${JSON.stringify(service.exit)}`)));
    died.catch(() => undefined);
    const storm = await Promise.allSettled(
      plan.map(async ({ u, from }) => {
        const c = await Client.connect(`${service.wsUrl}/ws`);
        clients.push(c);
        c.send({ '@type': 'subscribe', jwt: token({ name: user(u) }), resumeFrom: offsets[u][from].offset });
        return { c, resumed: await Promise.race([c.next((f) => f['@type'] === 'resumed', 25_000), died]) };
      }),
    );
    clearInterval(sampler);
    peak = Math.max(peak, peakRss(pid) || 0);
    const failed = storm.filter((r) => r.status === 'rejected');
    if (failed.length || !service.alive) {
      // Say why: before the bounds, the process died of an exhausted heap here.
      throw new Error(
        `${failed.length} of ${CLIENTS} clients got no resumed frame (${String((failed[0] as PromiseRejectedResult | undefined)?.reason).slice(0, 200)}); ` +
          `service ${service.alive ? 'alive' : `died: ${JSON.stringify(service.exit)}`}, peak RSS ${(peak / MIB).toFixed(0)} MiB; ${service.output().slice(-600)}`,
      );
    }
    const done = storm.map((r) => (r as PromiseFulfilledResult<{ c: Client; resumed: Frame }>).value);

    const reasons: Record<string, number> = {};
    done.forEach(({ c, resumed }, k) => {
      const { u, from } = plan[k];
      if (resumed.recovered === true) {
        reasons.recovered = (reasons.recovered ?? 0) + 1;
        // Exactly the entries of its user after its offset, in order, each once.
        const want = offsets[u].slice(from + 1).map((o) => o.entry);
        expect(replayOf(c).map(entryOf)).toEqual(want);
        expect(resumed).toEqual({ '@type': 'resumed', recovered: true, replayed: want.length });
      } else {
        reasons[String(resumed.reason)] = (reasons[String(resumed.reason)] ?? 0) + 1;
        expect(resumed).toEqual({ '@type': 'resumed', recovered: false, reason: expect.stringMatching(new RegExp(`^(${LOAD_REASONS.join('|')})$`)) });
        expect(replayOf(c)).toEqual([]);
      }
    });
    expect(reasons.recovered).toBeGreaterThanOrEqual(1);
    expect(service.alive).toBe(true);
    expect(peak).toBeLessThan(BUDGET_MB * MIB);

    // Live again: an event published after every resume reaches each client of its user, after
    // its `resumed` frame and with nothing of the storm delivered again before it (a barrier).
    await backend.publish(ch.CHANNEL_PUSH, { pushToUser: user(0), payload: { live: 'after' } });
    await Promise.all(
      done
        .filter((_, k) => plan[k].u === 0)
        .map(async ({ c, resumed }) => {
          const live = await c.next((f) => f.live === 'after', 10_000);
          const between = c.frames.slice(c.frames.indexOf(resumed) + 1, c.frames.indexOf(live));
          expect(between.filter((f) => entryOf(f) !== undefined)).toEqual([]);
        }),
    );
    expect(service.alive).toBe(true);
    process.stderr.write(`resume storm: ${JSON.stringify(reasons)}, peak RSS ${(peak / MIB).toFixed(0)} MiB (before the storm ${(before / MIB).toFixed(0)})\n`);
  }, 60_000);
});
