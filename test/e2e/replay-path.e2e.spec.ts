/**
 * A replay takes the live path (PROTOCOL 6): the same route, against the session as it is now,
 * and nothing the protocol leaves out. Each case broke when replay was a flag each handler
 * had to remember.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { Backend, Client, REDIS_URL, ask, framesBefore, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance } from '../support/harness.js';
import { replayOf, task, taskId } from '../support/resume.js';

const W1 = ws('w1', 'projects', 'pydiods1/projects');

/** An instance on the test Redis whose NODE_LOOKUP_URL never answers (the locator gives up after its 2 s), and a backend. */
async function withHangingLookup(env: Record<string, string>) {
  const lookup: Server = createServer(() => undefined).listen(0, '127.0.0.1');
  await new Promise((r) => lookup.once('listening', r));
  const ch = testChannels();
  const backend = new Backend();
  const { port } = lookup.address() as { port: number };
  const app = await startInstance({ ...ch, REDIS_URL, ...env, NODE_LOOKUP_URL: `http://127.0.0.1:${port}/nodes` });
  const close = async () => {
    await app.close();
    await backend.close();
    lookup.closeAllConnections();
    await new Promise((r) => lookup.close(r));
  };
  return { app, backend, ch, close };
}

describe('replay through the live path, over a real Redis', () => {
  let app: Instance;
  let backend: Backend;
  let ch: Record<string, string>;
  let close: () => Promise<void>;
  const clients: Client[] = [];
  const alice = () => token({ name: 'alice', workspaces: [W1] });
  const bob = () => token({ name: 'bob', workspaces: [W1] });

  const subscribed = async (jwt: string) => {
    const c = await Client.subscribed(`${app.wsUrl}/ws`, jwt);
    clients.push(c);
    return c;
  };
  /** The offset of a task published now, as `c` received it: where a later resume starts. */
  const offsetNow = async (c: Client, owner: string) => {
    const id = `t-${Math.random().toString(36).slice(2)}`;
    await backend.publish(ch.CHANNEL_TASKS, task(id, owner));
    return (await c.next((f) => taskId(f) === id))['@offset'] as string;
  };
  /** Subscribes again on the same socket with `resumeFrom`; resolves with the replay (frames between the ack and `resumed`) and `resumed`. */
  const resubscribe = async (c: Client, jwt: string, resumeFrom: string, timeoutMs = 5000) => {
    const from = c.frames.length;
    c.send({ '@type': 'subscribe', jwt, resumeFrom });
    const resumed = await c.next((f) => c.frames.indexOf(f) >= from && f['@type'] === 'resumed', timeoutMs);
    const frames = c.frames.slice(from);
    return { resumed, replay: frames.slice(frames.findIndex((f) => f['@type'] === 'subscribed') + 1, frames.indexOf(resumed)) };
  };

  beforeAll(async () => {
    ({ app, backend, ch, close } = await withHangingLookup({ PUSH_OPEN_ROOMS: 'open/*' }));
    await waitSubscribed(backend, ch.CHANNEL_PUSH);
  });
  afterAll(async () => {
    clients.forEach((c) => c.close());
    await close?.();
  });

  it('replays pushes to the user, never pushes to a room, even to a session in that room (PROTOCOL 6)', async () => {
    const a = await subscribed(alice());
    await ask(a, { '@type': 'joinRoom', room: 'open/lobby' }, (f) => f['@type'] === 'room' && f.joined === true);
    const from = await offsetNow(a, 'alice');
    await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: 'open/lobby', payload: { room: 1 } });
    await backend.publish(ch.CHANNEL_PUSH, { pushToUser: 'alice', payload: { user: 1 } });
    await a.next((f) => f.user === 1);
    expect(a.frames.filter((f) => f.room === 1)).toHaveLength(1); // live: both
    const { resumed, replay } = await resubscribe(a, alice(), from);
    expect(replay.map((f) => ({ room: f.room, user: f.user }))).toEqual([{ room: undefined, user: 1 }]);
    expect(resumed).toEqual({ '@type': 'resumed', recovered: true, replayed: 1 });
  });

  it('does not replay a room push to a session that joined the room after it was published', async () => {
    const b = await subscribed(bob());
    const from = await offsetNow(b, 'bob');
    await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: 'open/late', payload: { late: 1 } });
    const sentinel = await offsetNow(b, 'bob'); // after the room push: bob was not in the room
    await ask(b, { '@type': 'joinRoom', room: 'open/late' }, (f) => f['@type'] === 'room' && f.joined === true);
    const { replay } = await resubscribe(b, bob(), from);
    expect(replay.filter((f) => f.late === 1)).toEqual([]);
    expect(replay.map((f) => f['@offset'])).toContain(sentinel);
  });

  it('replays what the new identity may see only: a socket that was alice and is now bob gets none of alice\'s pushes, nor her room\'s', async () => {
    const c = await subscribed(alice());
    await ask(c, { '@type': 'joinRoom', room: 'open/handover' }, (f) => f['@type'] === 'room' && f.joined === true);
    const from = await offsetNow(c, 'alice');
    await backend.publish(ch.CHANNEL_PUSH, { pushToUser: 'alice', payload: { secret: 'alice' } });
    await backend.publish(ch.CHANNEL_PUSH, { pushToRoom: 'open/handover', payload: { secret: 'room' } });
    await backend.publish(ch.CHANNEL_PUSH, { pushToUser: 'bob', payload: { hello: 'bob' } });
    await c.next((f) => f.secret === 'room');
    // bob may be in open rooms too: the socket keeps open/handover, but not what was pushed to it before.
    const { replay } = await resubscribe(c, bob(), from);
    expect(replay.filter((f) => 'secret' in f)).toEqual([]);
    expect(replay.filter((f) => f.hello === 'bob')).toHaveLength(1);
  });

  it('looks the replay\'s pathless node events up together, so a hanging lookup endpoint costs one timeout, not one per event', async () => {
    const c = await subscribed(alice());
    const from = await offsetNow(c, 'alice');
    // Cells' comment counts: UPDATE_USER_META with no path, located through NODE_LOOKUP_URL (which hangs here).
    for (let i = 0; i < 12; i++) {
      await backend.publish(ch.CHANNEL_META, { Type: 'UPDATE_USER_META', Target: { Uuid: `n-${i}`, MetaStore: { comments: '"1"' } } });
    }
    const last = await offsetNow(c, 'alice');
    const started = Date.now();
    // One after the other, 12 lookups of 2 s each took 24 s and the session got nothing live meanwhile.
    const { resumed, replay } = await resubscribe(c, alice(), from, 6000);
    expect(Date.now() - started).toBeLessThan(6000);
    expect(resumed).toMatchObject({ recovered: true });
    expect(replay.map((f) => f['@offset'])).toEqual([last]); // the lookups failed: dropped, as live
    const live = `live-${Date.now()}`;
    await backend.publish(ch.CHANNEL_TASKS, task(live));
    await c.next((f) => taskId(f) === live);
    expect(c.socket.readyState).toBe(c.socket.OPEN);
  }, 15_000);
});

describe('a replay that cannot finish within HISTORY_REPLAY_TIMEOUT_MS', () => {
  let app: Instance;
  let backend: Backend;
  let ch: Record<string, string>;
  let close: () => Promise<void>;
  const clients: Client[] = [];

  beforeAll(async () => {
    ({ app, backend, ch, close } = await withHangingLookup({ HISTORY_REPLAY_TIMEOUT_MS: '500' }));
    await waitSubscribed(backend, ch.CHANNEL_META);
  });
  afterAll(async () => {
    clients.forEach((c) => c.close());
    await close?.();
  });

  it('answers recovered:false (timeout) instead of stalling or closing the session, then goes live', async () => {
    const alice = token({ name: 'alice', workspaces: [W1] });
    const probe = await Client.subscribed(`${app.wsUrl}/ws`, alice);
    clients.push(probe);
    await backend.publish(ch.CHANNEL_TASKS, task('before'));
    const from = (await probe.next((f) => taskId(f) === 'before'))['@offset'] as string;
    await backend.publish(ch.CHANNEL_META, { Type: 'UPDATE_USER_META', Target: { Uuid: 'n-slow', MetaStore: { comments: '"1"' } } });
    await backend.publish(ch.CHANNEL_TASKS, task('after'));
    await probe.next((f) => taskId(f) === 'after');
    const c = await Client.connect(`${app.wsUrl}/ws`);
    clients.push(c);
    c.send({ '@type': 'subscribe', jwt: alice, resumeFrom: from });
    expect(await c.next((f) => f['@type'] === 'resumed', 3000)).toEqual({ '@type': 'resumed', recovered: false, reason: 'timeout' });
    expect(replayOf(c)).toEqual([]);
    await backend.publish(ch.CHANNEL_TASKS, task('live'));
    const seen: Frame[] = await framesBefore(c, 0, (f) => taskId(f) === 'live');
    expect(seen.map((f) => f['@type'])).toEqual(['subscribed', 'resumed']);
  });
});
