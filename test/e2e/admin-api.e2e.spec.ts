/**
 * The server API (docs/protocol.md 10) on two instances sharing one Redis, and a third one,
 * a real process, that stops answering (SIGSTOP): counts, presence, disconnect of a user with
 * sessions on every instance (and its old token refused afterwards), a slow instance.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { AdminCluster } from '../../src/admin/admin-cluster.js';
import { API_KEY, Backend, Client, REDIS_URL, SECRET, ask, framesBefore, sleep, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance } from '../support/harness.js';
import { ServiceProcess } from '../support/service-process.js';

const tag = randomBytes(4).toString('hex');
const ADMIN_KEY = `admin-key-${tag}-0123456789`;
const TIMEOUT_MS = 700;
const W1 = ws('w1', 'projects', 'pydiods1/projects');
/** Users of this file only: the Redis revocations outlive it. */
const ALICE = `alice-${tag}`;
const BOB = `bob-${tag}`;
const CAROL = `carol-${tag}`;

/** What the routes answer, loosely: each test reads the fields of its route. */
interface Answer {
  [k: string]: unknown;
  answered: string[];
  sessions: Frame[];
  count: number;
  message?: unknown;
}
interface PerEndpoint {
  events: number;
  chat: number;
}
interface Stats {
  sessions: PerEndpoint;
  eventsPerSecond: Record<string, number>;
  instances: { instance: string; connections: PerEndpoint; sessions: PerEndpoint }[];
  partial: boolean;
}

describe('server API across instances (docs/protocol.md 10)', () => {
  const ch = testChannels();
  const env = { ...ch, REDIS_URL, ADMIN_API_KEY: ADMIN_KEY, ADMIN_CHANNEL: `test.${tag}.admin`, ADMIN_TIMEOUT_MS: String(TIMEOUT_MS), PUSH_OPEN_ROOMS: 'lobby-*' };
  let a: Instance, b: Instance;
  let backend: Backend;
  const opened: Client[] = [];
  const idOf = (i: Instance) => i.app.get(AdminCluster).instance;

  const connect = async (i: Instance, name: string, endpoint = '/ws', jwt = token({ name, workspaces: [W1] })) => {
    const c = await Client.subscribed(`${i.wsUrl}${endpoint}`, jwt);
    opened.push(c);
    return c;
  };
  const api = async (i: Instance, path: string, init: RequestInit & { key?: string } = {}) => {
    const res = await fetch(`${i.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${init.key ?? ADMIN_KEY}`, 'content-type': 'application/json', ...init.headers },
    });
    return { status: res.status, body: (await res.json()) as Answer };
  };
  const disconnect = (i: Instance, body: object) => api(i, '/api/disconnect', { method: 'POST', body: JSON.stringify(body) });
  const sessionId = (c: Client) => c.frames.find((f) => f['@type'] === 'subscribed')!.sessionId as string;
  let sentinels = 0;
  /** Barrier: a push to the session; what it received before it. */
  const upToSentinel = async (c: Client) => {
    const sentinel = `s-${++sentinels}`;
    await backend.publish(ch.CHANNEL_PUSH, { pushToSession: sessionId(c), payload: { sentinel } });
    return framesBefore(c, 0, (f) => f.sentinel === sentinel);
  };

  beforeAll(async () => {
    backend = new Backend();
    a = await startInstance(env);
    b = await startInstance(env);
    await waitSubscribed(backend, env.ADMIN_CHANNEL, 2);
    await waitSubscribed(backend, ch.CHANNEL_PUSH, 2);
  });

  afterAll(async () => {
    opened.forEach((c) => c.close());
    await a?.close();
    await b?.close();
    await backend?.close();
  });

  it('is refused without the admin key, with the publish key, and the admin key does not publish', async () => {
    expect((await api(a, '/api/stats', { key: 'wrong' })).status).toBe(401);
    expect((await api(a, '/api/stats', { key: API_KEY })).status).toBe(401);
    expect((await fetch(`${a.url}/api/stats`)).status).toBe(401);
    expect((await api(a, '/api/stats')).status).toBe(200);
    const publish = await fetch(`${a.url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: ch.CHANNEL_PUSH, data: { pushToUser: 'x', payload: 1 } }),
    });
    expect(publish.status).toBe(401);
  });

  it('counts and lists a user sessions on every instance and both endpoints', async () => {
    await connect(a, ALICE);
    await connect(a, ALICE);
    await connect(b, ALICE);
    await connect(b, ALICE, '/chat');
    await connect(a, BOB);
    for (const asked of [a, b]) {
      const { status, body } = await api(asked, `/api/sessions?user=${ALICE}`);
      expect(status).toBe(200);
      expect(body).toMatchObject({ user: ALICE, count: 4, truncated: false, missing: 0, partial: false });
      expect(body.answered.sort()).toEqual([idOf(a), idOf(b)].sort());
      const where = body.sessions.map((s: Frame) => `${s.instance} ${s.endpoint}`).sort();
      expect(where).toEqual([`${idOf(a)} events`, `${idOf(a)} events`, `${idOf(b)} chat`, `${idOf(b)} events`].sort());
      expect(body.sessions.every((s: Frame) => s.user === ALICE && typeof s.sessionId === 'string')).toBe(true);
    }
    const one = await api(b, `/api/sessions?user=${ALICE}&limit=1`);
    expect(one.body).toMatchObject({ count: 4, truncated: true });
    expect(one.body.sessions).toHaveLength(1);
    expect((await api(a, `/api/sessions?user=nobody-${tag}`)).body).toMatchObject({ count: 0, sessions: [] });
    // Without a user: every subscribed session (other files' instances are not on this channel).
    expect((await api(a, '/api/sessions')).body.count).toBe(5);
  });

  it('lists who is in a push room and in a chat room, across instances', async () => {
    const room = `lobby-${tag}`;
    const join = (c: Client) => ask(c, { '@type': 'joinRoom', room }, (f) => f['@type'] === 'room' && f.joined === true);
    await join(await connect(a, CAROL));
    await join(await connect(b, BOB));
    const { body } = await api(a, `/api/rooms/${encodeURIComponent(room)}/presence`);
    expect(body).toMatchObject({ room, count: 2, users: [BOB, CAROL].sort(), partial: false });
    expect(body.sessions.map((s: Frame) => [s.user, s.instance, s.endpoint]).sort()).toEqual(
      [
        [CAROL, idOf(a), 'events'],
        [BOB, idOf(b), 'events'],
      ].sort(),
    );
    const chat = await connect(b, CAROL, '/chat');
    chat.send({ '@type': 'JOIN', Room: { Type: 'GLOBAL', RoomTypeObject: `g-${tag}` } });
    const update = await chat.next((f) => f['@type'] === 'ROOM_UPDATE');
    const uuid = (update.Room as Frame).Uuid as string;
    expect((await api(a, `/api/rooms/${uuid}/presence`)).body).toMatchObject({ count: 1, users: [CAROL], sessions: [{ endpoint: 'chat', instance: idOf(b) }] });
    expect((await api(a, `/api/rooms/nothing-${tag}/presence`)).body).toMatchObject({ count: 0, users: [], sessions: [] });
  });

  it('disconnects a user on every instance and both endpoints; its old tokens are refused afterwards, a newer one is not', async () => {
    const user = `dave-${tag}`;
    const oldToken = token({ name: user, workspaces: [W1] });
    const sockets = [await connect(a, user, '/ws', oldToken), await connect(b, user, '/ws', oldToken), await connect(b, user, '/chat', oldToken)];
    const bystander = await connect(b, BOB);
    const { status, body } = await disconnect(a, { user, reason: 'account locked' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ user, revoked: true, disconnected: 3, missing: 0, partial: false });
    for (const c of sockets) {
      expect(await c.closed).toEqual({ code: 4403, reason: 'account locked' });
      expect(c.frames.at(-1)).toMatchObject({ '@type': 'error', code: 'disconnected', error: 'account locked' });
    }
    expect((await upToSentinel(bystander)).filter((f) => f['@type'] === 'error')).toEqual([]);
    expect((await api(b, `/api/sessions?user=${user}`)).body.count).toBe(0);
    // The old token, on either instance: refused as a removed user's.
    for (const i of [a, b]) {
      const c = await Client.connect(`${i.wsUrl}/ws`);
      opened.push(c);
      c.send({ '@type': 'subscribe', jwt: oldToken });
      expect(await c.closed).toMatchObject({ code: 4403 });
      expect(c.frames).toContainEqual(expect.objectContaining({ code: 'user_removed' }));
    }
    // A token issued in a later second is accepted.
    const second = Math.floor(Date.now() / 1000);
    while (Math.floor(Date.now() / 1000) === second) await sleep(20);
    await connect(b, user, '/ws', token({ name: user, workspaces: [W1] }));
  });

  it('disconnects one session by id, wherever it is, with the code and reason given, and revokes nothing', async () => {
    const user = `erin-${tag}`;
    const jwt = token({ name: user, workspaces: [W1] });
    const target = await connect(b, user, '/ws', jwt);
    const kept = await connect(a, user, '/ws', jwt);
    const { body } = await disconnect(a, { session: sessionId(target), code: 4000, reason: 'rebalancing' });
    expect(body).toMatchObject({ session: sessionId(target), disconnected: 1, partial: false });
    expect(body).not.toHaveProperty('revoked');
    expect(await target.closed).toEqual({ code: 4000, reason: 'rebalancing' });
    expect((await upToSentinel(kept)).filter((f) => f['@type'] === 'error')).toEqual([]);
    await connect(b, user, '/ws', jwt); // the same token still works
    expect((await disconnect(a, { session: 'no-such-session' })).body).toMatchObject({ disconnected: 0 });
  });

  it('reports connections and sessions per endpoint and instance, and bus events per topic per second', async () => {
    const idle = await Client.connect(`${b.wsUrl}/ws`); // connected, not subscribed
    opened.push(idle);
    const before = (await api(a, '/api/stats')).body as unknown as Stats;
    for (let i = 0; i < 20; i++) await backend.publish(ch.CHANNEL_PUSH, { pushToUser: `nobody-${tag}`, payload: i });
    await sleep(100);
    const body = (await api(a, '/api/stats')).body as unknown as Stats;
    expect(body.partial).toBe(false);
    const byId = Object.fromEntries(body.instances.map((i) => [i.instance, i]));
    for (const i of [a, b]) {
      const sessions = (await api(i, '/api/sessions?limit=1000')).body.sessions.filter((s: Frame) => s.instance === idOf(i));
      expect(byId[idOf(i)].sessions).toEqual({ events: sessions.filter((s: Frame) => s.endpoint === 'events').length, chat: sessions.filter((s: Frame) => s.endpoint === 'chat').length });
    }
    expect(byId[idOf(b)].connections.events).toBe(byId[idOf(b)].sessions.events + 1);
    expect(body.sessions.events).toBe(byId[idOf(a)].sessions.events + byId[idOf(b)].sessions.events);
    expect(body.eventsPerSecond.push).toBeGreaterThan(before.eventsPerSecond.push ?? 0);
  });

  it('refuses bad parameters with a 400 that names the field', async () => {
    const cases: [string, RequestInit, RegExp][] = [
      ['/api/sessions?limit=0', {}, /limit must be an integer from 1 to 1000/],
      ['/api/sessions?limit=5000', {}, /limit/],
      ['/api/sessions?limit=abc', {}, /limit/],
      ['/api/sessions?user=', {}, /user must not be empty/],
      ['/api/sessions?user=a&user=b', {}, /user must be a string/],
      ['/api/disconnect', { method: 'POST', body: '{}' }, /name either a user or a session/],
      ['/api/disconnect', { method: 'POST', body: JSON.stringify({ user: 'x', session: 'y' }) }, /name either a user or a session/],
      ['/api/disconnect', { method: 'POST', body: JSON.stringify({ user: 'x', code: 1000 }) }, /body.code must be an integer from 4000 to 4999/],
      ['/api/disconnect', { method: 'POST', body: JSON.stringify({ user: 'x', reason: 'a\u0000b' }) }, /body.reason must be printable/],
      ['/api/disconnect', { method: 'POST', body: JSON.stringify({ user: 'x', extra: 1 }) }, /body/],
      ['/api/disconnect', { method: 'POST', body: '[1]' }, /body must be a JSON object/],
    ];
    for (const [path, init, message] of cases) {
      const { status, body } = await api(a, path, init);
      expect([path, status]).toEqual([path, 400]);
      expect(String(body.message)).toMatch(message);
    }
  });

  describe('with an instance that does not answer', () => {
    let slow: ServiceProcess;

    beforeAll(async () => {
      slow = await ServiceProcess.start({ ...env, JWT_SECRET: SECRET, API_KEY });
      await waitSubscribed(backend, env.ADMIN_CHANNEL, 3);
      const c = await Client.subscribed(`${slow.wsUrl}/ws`, token({ name: `frank-${tag}` }));
      opened.push(c);
    }, 120_000);

    afterAll(async () => {
      slow?.proc.kill('SIGCONT');
      await slow?.stop();
    });

    it('answers within ADMIN_TIMEOUT_MS with the instances that did, and says the answer is partial', async () => {
      const full = (await api(a, `/api/sessions?user=frank-${tag}`)).body;
      expect(full).toMatchObject({ count: 1, missing: 0, partial: false });
      expect(full.answered).toHaveLength(3);

      slow.proc.kill('SIGSTOP');
      try {
        const started = Date.now();
        const { status, body } = await api(a, `/api/sessions?user=frank-${tag}`);
        const took = Date.now() - started;
        expect(status).toBe(200);
        expect(body).toMatchObject({ count: 0, missing: 1, partial: true });
        expect(body.answered.sort()).toEqual([idOf(a), idOf(b)].sort());
        expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
        expect(took).toBeLessThan(TIMEOUT_MS + 1000);
        // The stats and presence too.
        expect((await api(b, '/api/stats')).body).toMatchObject({ missing: 1, partial: true });
      } finally {
        slow.proc.kill('SIGCONT');
      }
      // Back: complete again.
      expect((await api(a, `/api/sessions?user=frank-${tag}`)).body).toMatchObject({ count: 1, missing: 0, partial: false });
    });
  });
});

describe('server API on one embedded instance', () => {
  let solo: Instance, off: Instance;
  beforeAll(async () => {
    solo = await startInstance({ ADMIN_API_KEY: ADMIN_KEY });
    off = await startInstance({});
  });
  afterAll(async () => {
    await solo?.close();
    await off?.close();
  });

  it('answers for this instance alone, complete', async () => {
    const c = await Client.subscribed(`${solo.wsUrl}/ws`, token({ name: 'solo' }));
    const res = await fetch(`${solo.url}/api/sessions?user=solo`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(await res.json()).toMatchObject({ count: 1, answered: [solo.app.get(AdminCluster).instance], missing: 0, partial: false });
    c.close();
  });

  it('is absent (404) when ADMIN_API_KEY is unset, whatever key is given', async () => {
    for (const key of [ADMIN_KEY, API_KEY, '']) {
      expect((await fetch(`${off.url}/api/stats`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(404);
    }
  });
});
