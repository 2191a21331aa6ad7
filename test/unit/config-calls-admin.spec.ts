/** CALL_* and ADMIN_* (docs/protocol.md 9 and 10): what loadConfig accepts, and each refusal. */
import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const SECRET = 'k'.repeat(32);

describe('CALL_ROUTES and the call limits', () => {
  it('has no route, and the documented limits, by default', () => {
    const { calls, admin } = loadConfig({});
    expect(calls).toEqual({ routes: new Map(), signingSecret: undefined, issuer: 'switchboard', timeoutMs: 5000, maxPerSession: 4, maxInFlight: 256, maxResponseBytes: 256 * 1024 });
    expect(admin).toEqual({ apiKey: undefined, channel: 'switchboard.admin', timeoutMs: 1000 });
  });

  it('keeps a result within half of a small SESSION_MAX_BUFFERED_BYTES by default', () => {
    expect(loadConfig({ SESSION_MAX_BUFFERED_BYTES: '65536' }).calls.maxResponseBytes).toBe(32768);
  });

  it('reads method=url pairs separated by commas or white space', () => {
    const { routes } = loadConfig({ CALL_ROUTES: ' profile.get=http://api:8080/rpc/profile,\n search=https://search.example.com/q?a=1%2C2  a:b-c_d=http://x/ ', CALL_SIGNING_SECRET: SECRET }).calls;
    expect([...routes]).toEqual([
      ['profile.get', 'http://api:8080/rpc/profile'],
      ['search', 'https://search.example.com/q?a=1%2C2'],
      ['a:b-c_d', 'http://x/'],
    ]);
  });

  it.each<[string, Record<string, string>, RegExp]>([
    ['a pair without =', { CALL_ROUTES: 'profile', CALL_SIGNING_SECRET: SECRET }, /"profile" is not method=url/],
    ['an empty method', { CALL_ROUTES: '=http://x/', CALL_SIGNING_SECRET: SECRET }, /is not method=url/],
    ['a method that is not a name', { CALL_ROUTES: '__proto__=http://x/', CALL_SIGNING_SECRET: SECRET }, /is not method=url/],
    ['a method over 64 characters', { CALL_ROUTES: `${'m'.repeat(65)}=http://x/`, CALL_SIGNING_SECRET: SECRET }, /is not method=url/],
    ['a method twice', { CALL_ROUTES: 'a=http://x/,a=http://y/', CALL_SIGNING_SECRET: SECRET }, /"a" is given twice/],
    ['not a URL', { CALL_ROUTES: 'a=nope', CALL_SIGNING_SECRET: SECRET }, /the URL of "a" is not a URL/],
    ['another scheme', { CALL_ROUTES: 'a=file:///etc/passwd', CALL_SIGNING_SECRET: SECRET }, /must use http: or https:/],
    ['credentials in the URL', { CALL_ROUTES: 'a=http://u:p@x/', CALL_SIGNING_SECRET: SECRET }, /must not carry credentials/],
    ['routes without a signing secret', { CALL_ROUTES: 'a=http://x/' }, /CALL_ROUTES needs CALL_SIGNING_SECRET/],
    ['a short signing secret', { CALL_SIGNING_SECRET: 'short' }, /at least 32 bytes/],
    ['the subscribe secret as signing secret', { CALL_SIGNING_SECRET: SECRET, JWT_SECRET: SECRET }, /must differ from JWT_SECRET/],
    ['a timeout under 100 ms', { CALL_TIMEOUT_MS: '50' }, /CALL_TIMEOUT_MS/],
    ['no call per session', { CALL_MAX_PER_SESSION: '0' }, /CALL_MAX_PER_SESSION/],
    ['answers that would overflow a session', { CALL_MAX_RESPONSE_BYTES: String(3 * 1024 * 1024) }, /at most half of SESSION_MAX_BUFFERED_BYTES/],
  ])('refuses %s', (_name, env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('ADMIN_API_KEY and the server API', () => {
  it.each<[string, Record<string, string>, RegExp]>([
    ['a short key', { ADMIN_API_KEY: 'short' }, /at least 16 characters/],
    ['the publish key', { ADMIN_API_KEY: 'p'.repeat(20), API_KEY: 'p'.repeat(20) }, /must differ from API_KEY/],
    ['a channel with spaces', { ADMIN_CHANNEL: 'a b' }, /ADMIN_CHANNEL must not contain spaces/],
    ['a timeout under 50 ms', { ADMIN_TIMEOUT_MS: '10' }, /ADMIN_TIMEOUT_MS/],
  ])('refuses %s', (_name, env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('takes a key of its own', () => {
    expect(loadConfig({ ADMIN_API_KEY: 'a'.repeat(16), API_KEY: 'b'.repeat(16), ADMIN_TIMEOUT_MS: '250' }).admin).toEqual({ apiKey: 'a'.repeat(16), channel: 'switchboard.admin', timeoutMs: 250 });
  });
});
