/**
 * Demo mode (DEMO_MODE=true): the only way the service mints tokens. Absent otherwise, alone
 * when on (its own secret and key, no Redis, loopback only: config.spec.ts has every refusal),
 * and what it mints is a real, short-lived token of a fixed demo user, good on the demo only.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { API_KEY, Backend, Client, REDIS_URL, startInstance, testChannels, token, waitSubscribed, type Instance } from '../support/harness.js';

/** A demo instance as `npm run demo` starts one: none of the harness's secret and key. */
const DEMO = { DEMO_MODE: 'true', JWT_SECRET: undefined, API_KEY: undefined };

describe('demo mode', () => {
  const instances: Instance[] = [];
  afterAll(async () => {
    for (const i of instances) await i.close();
  });

  it('has no demo routes unless DEMO_MODE=true', async () => {
    const app = await startInstance();
    instances.push(app);
    for (const path of ['/demo/api/session?user=alice', '/demo', '/demo/assets/index.js']) {
      expect((await fetch(`${app.url}${path}`)).status).toBe(404);
    }
  });

  it.each([
    [{ DEMO_MODE: 'true', JWT_SECRET: 's' }, /unset JWT_SECRET/],
    [{ DEMO_MODE: 'true', JWT_JWKS_URL: 'https://idp.example/jwks' }, /unset JWT_JWKS_URL/],
    [{ DEMO_MODE: 'yes' }, /DEMO_MODE must be true or false/],
  ])('refuses to start with %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('mints a short-lived token for a demo user, refuses others, and serves no path outside the page', async () => {
    const app = await startInstance({ ...DEMO, DEMO_TOKEN_SECONDS: '60', DEMO_DIR: 'test/fixtures-that-do-not-exist' });
    instances.push(app);
    const res = await fetch(`${app.url}/demo/api/session?user=bob`);
    expect(res.status).toBe(200);
    const session = (await res.json()) as { token: string; expiresIn: number; workspaces: Array<{ uuid: string }>; apiKey: string };
    expect(session.expiresIn).toBe(60);
    expect(session.workspaces.map((w) => w.uuid)).toEqual(['demo-common']);
    // Its own key, generated at start: good for its own publish endpoint.
    expect(session.apiKey).toMatch(/^demo-[0-9a-f]{64}$/);
    const published = await fetch(`${app.url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'topic.pydio.tasks.event', data: { TaskUpdated: { ID: 't', TriggerOwner: 'bob' } } }),
    });
    expect(published.status).toBe(202);

    const c = await Client.subscribed(`${app.wsUrl}/ws`, session.token);
    const ack = c.frames.find((f) => f['@type'] === 'subscribed')!;
    expect(ack).toMatchObject({ user: 'bob', workspaces: ['demo-common'] });
    expect(Number(ack.expiresAt) - Date.now() / 1000).toBeLessThanOrEqual(61);
    c.close();

    for (const user of ['mallory', 'constructor', '__proto__', '']) {
      expect((await fetch(`${app.url}/demo/api/session?user=${user}`)).status).toBe(400);
    }
    for (const path of ['/demo/assets/..%2F..%2Fpackage.json', '/demo/assets/.env', '/demo/assets/x']) {
      expect((await fetch(`${app.url}${path}`)).status).toBe(404);
    }
  });

  it("cannot reach production: the issue's carol gets nothing of the deployment's, and the deployment's key is never handed out", async () => {
    const ch = testChannels();
    const backend = new Backend();
    const prod = await startInstance({ ...ch, REDIS_URL });
    instances.push(prod);
    try {
      await waitSubscribed(backend, ch.CHANNEL_PUSH);
      // Demo mode switched on next to the deployment's settings, as in the issue: it does not start.
      expect(() => loadConfig({ ...prod.env, DEMO_MODE: 'true' })).toThrow(/DEMO_MODE=true .* unset REDIS_URL, JWT_SECRET, API_KEY/);
      expect(() => loadConfig({ ...prod.env, DEMO_MODE: 'true', REDIS_URL: undefined, JWT_SECRET: undefined, API_KEY: undefined, HOST: '::' })).toThrow(/HOST/);

      // The only demo that starts runs alone, with a secret and a key of its own.
      const demo = await startInstance({ ...DEMO, DEMO_DIR: 'test/fixtures-that-do-not-exist' });
      instances.push(demo);
      const carol = (await (await fetch(`${demo.url}/demo/api/session?user=carol`)).json()) as { token: string; apiKey: string };
      expect(carol.apiKey).not.toBe(API_KEY);

      // The demo's "carol" (admin) on the deployment: refused, so a push to the real carol cannot reach it.
      const impostor = await Client.connect(`${prod.wsUrl}/ws`);
      impostor.send({ '@type': 'subscribe', jwt: carol.token });
      expect(await impostor.closed).toEqual({ code: 4401, reason: 'invalid signature' });
      const real = await Client.subscribed(`${prod.wsUrl}/ws`, token({ name: 'carol', profile: 'admin' }));
      await backend.publish(ch.CHANNEL_PUSH, { pushToUser: 'carol', payload: { for: 'the real carol' } });
      expect(await real.next((f) => f.for === 'the real carol')).toMatchObject({ for: 'the real carol' });
      expect(impostor.frames.some((f) => f.for !== undefined)).toBe(false);
      real.close();

      // Nor does the demo's key publish on the deployment.
      const publish = await fetch(`${prod.url}/api/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${carol.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: ch.CHANNEL_PUSH, data: { pushToUser: 'carol', payload: {} } }),
      });
      expect(publish.status).toBe(401);
    } finally {
      await backend.close();
    }
  });
});
