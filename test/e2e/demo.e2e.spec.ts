/**
 * Demo mode (DEMO_MODE=true): the only way the service mints tokens. Absent otherwise, refused
 * without a dev secret, and what it mints is a real, short-lived token of a fixed demo user.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { Client, startInstance, type Instance } from '../support/harness.js';

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
    [{ DEMO_MODE: 'true' }, /needs JWT_SECRET/],
    [{ DEMO_MODE: 'true', JWT_SECRET: 's', JWT_JWKS_URL: 'https://idp.example/jwks' }, /no JWT_PUBLIC_KEY or JWT_JWKS_URL/],
    [{ DEMO_MODE: 'yes', JWT_SECRET: 's' }, /DEMO_MODE must be true or false/],
  ])('refuses to start with %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('mints a short-lived token for a demo user, refuses others, and serves no path outside the page', async () => {
    const app = await startInstance({ DEMO_MODE: 'true', DEMO_TOKEN_SECONDS: '60', DEMO_DIR: 'test/fixtures-that-do-not-exist' });
    instances.push(app);
    const res = await fetch(`${app.url}/demo/api/session?user=bob`);
    expect(res.status).toBe(200);
    const session = (await res.json()) as { token: string; expiresIn: number; workspaces: Array<{ uuid: string }>; apiKey: string };
    expect(session.expiresIn).toBe(60);
    expect(session.workspaces.map((w) => w.uuid)).toEqual(['demo-common']);
    expect(session.apiKey).toBe(app.env.API_KEY);

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
});
