import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TopicRegistry } from '../../src/delivery/topic-registry.js';
import { API_KEY, Client, framesBefore, startInstance, token, ws, type Instance } from '../support/harness.js';

const post = (url: string, body: unknown, key?: string) =>
  fetch(`${url}/api/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('embedded mode (no Redis): HTTP publish, health and readiness', () => {
  let app: Instance;

  beforeAll(async () => {
    app = await startInstance({ REDIS_URL: undefined });
  });
  afterAll(() => app?.close());

  it('finds one declared topic for every configured channel', () => {
    const defaults = ['topic.pydio.tree.nodes.changes', 'topic.pydio.meta.nodes.changes', 'topic.pydio.tasks.event', 'topic.pydio.idm.event'];
    const more = ['topic.pydio.activity.event', 'topic.pydio.chat.event', 'switchboard.push', 'BackgroundPush'];
    expect(app.app.get(TopicRegistry).channels().sort()).toEqual([...defaults, ...more].sort());
  });

  it('is live and ready without Redis', async () => {
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${app.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ bus: 'embedded', connected: true });
  });

  it('delivers an event published over HTTP to the sessions that see it', async () => {
    const alice = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'alice', workspaces: [ws('w1', 'projects', 'pydiods1/projects')] }));
    const bob = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'bob', workspaces: [ws('w2', 'other', 'pydiods1/other')] }));
    const res = await post(app.url, { channel: 'topic.pydio.tree.nodes.changes', data: { Type: 'DELETE', Source: { Uuid: 'h1', Path: 'pydiods1/projects/h.txt' } } }, API_KEY);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ published: true, channel: 'topic.pydio.tree.nodes.changes' });
    expect(await alice.next((f) => f.Type === 'DELETE')).toMatchObject({ Source: { Path: 'projects/h.txt' } });
    // Barrier: a later node event that bob sees, through the same node pipeline.
    await post(app.url, { channel: 'topic.pydio.tree.nodes.changes', data: { Type: 'DELETE', Source: { Uuid: 'h2', Path: 'pydiods1/other/h.txt' } } }, API_KEY);
    expect((await framesBefore(bob, 0, (f) => (f.Source as { Uuid?: string })?.Uuid === 'h2')).filter((f) => f.Type !== undefined)).toEqual([]);
    alice.close();
    bob.close();
  });

  it.each([
    ['no key', { channel: 'topic.pydio.tasks.event', data: { TaskUpdated: {} } }, undefined, 401, 'missing or wrong API key'],
    ['wrong key', { channel: 'topic.pydio.tasks.event', data: { TaskUpdated: {} } }, 'nope', 401, 'missing or wrong API key'],
    ['a body that is not an object', '[1,2]', API_KEY, 400, 'body must be a JSON object'],
    ['a body that is not JSON', '{"channel":', API_KEY, 400, 'JSON'],
    ['no channel', { data: {} }, API_KEY, 400, '"channel" must be a non-empty string'],
    ['an unknown channel', { channel: 'nope', data: {} }, API_KEY, 400, 'unknown channel "nope"'],
    ['no data', { channel: 'topic.pydio.tasks.event' }, API_KEY, 400, '"data" is required'],
    ['data that does not fit the topic', { channel: 'topic.pydio.tasks.event', data: { Job: {} } }, API_KEY, 400, 'TaskUpdated'],
  ])('refuses %s', async (_name, body, key, status, message) => {
    const res = await post(app.url, body, key);
    expect(res.status).toBe(status);
    expect(String(((await res.json()) as { message?: unknown }).message)).toContain(message);
  });

  it('serves Prometheus metrics', async () => {
    const res = await fetch(`${app.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const name of ['switchboard_connections', 'switchboard_bus_connected 1', 'switchboard_frames_sent_total', 'process_resident_memory_bytes']) {
      expect(text).toContain(name);
    }
  });

  it('answers 404 on the publish endpoint when API_KEY is unset', async () => {
    const closed = await startInstance({ API_KEY: '' });
    try {
      const res = await post(closed.url, { channel: 'topic.pydio.tasks.event', data: {} }, 'anything');
      expect(res.status).toBe(404);
    } finally {
      await closed.close();
    }
  });

  it('tells connected clients 1001 when it shuts down', async () => {
    const other = await startInstance({ SHUTDOWN_GRACE_MS: '2000' });
    const c = await Client.subscribed(`${other.wsUrl}/ws`, token({ name: 'alice' }));
    await other.close();
    // With its reconnect hint (PROTOCOL 7): a delay drawn in [0, SHUTDOWN_RECONNECT_WINDOW_MS], 10 s by default.
    const closed = await c.closed;
    expect(closed.code).toBe(1001);
    expect(Number(/^server shutting down; retry in (\d+) ms$/.exec(closed.reason)?.[1])).toBeLessThanOrEqual(10_000);
  });

  it('refuses a WebSocket upgrade on an unknown path', async () => {
    await expect(Client.connect(`${app.wsUrl}/nope`)).rejects.toThrow(/404/);
  });
});
