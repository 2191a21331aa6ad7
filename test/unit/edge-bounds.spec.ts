import { describe, expect, it } from '@jest/globals';
import { subscribeResult } from '../../src/auth/auth-error.js';
import { fitCloseReason } from '../../src/common/close-reason.js';
import { jsonTooDeep, payloadProblem } from '../../src/common/json-bounds.js';
import { normalizeOrigin } from '../../src/common/origin.js';
import { loadConfig } from '../../src/config/config.js';
import { Admission } from '../../src/gateways/admission.js';
import { upgradePath } from '../../src/gateways/upgrade-path.js';

const nested = (depth: number, open = '[', close = ']') => open.repeat(depth) + close.repeat(depth);

describe('jsonTooDeep: nesting counted on the raw text, before parsing', () => {
  it.each<[string, string, number, boolean]>([
    ['a scalar', '42', 0, false],
    ['an empty object at depth 1', '{}', 1, false],
    ['an empty object over depth 0', '{}', 0, true],
    ['arrays exactly at the bound', nested(32), 32, false],
    ['arrays one past the bound', nested(33), 32, true],
    ['objects one past the bound', '{"a":'.repeat(33) + '1' + '}'.repeat(33), 32, true],
    ['mixed objects and arrays', '{"a":[{"b":[1]}]}', 4, false],
    ['mixed, one past', '{"a":[{"b":[1]}]}', 3, true],
    ['brackets inside strings do not count', JSON.stringify({ s: '[[[[[[[[[[{{{{{{{{' }), 1, false],
    ['an escaped quote does not end the string', JSON.stringify({ s: 'x"[[[[[[' }), 1, false],
    ['an escaped backslash before the closing quote', JSON.stringify({ s: 'x\\' }) + '', 1, false],
    ['siblings do not add up', '[[1],[2],[3],[4]]', 2, false],
    ['the 6,000-deep Target of issue 8', JSON.stringify({ Type: 'CREATE', Target: { Uuid: 'u' } }).replace('"u"', `"u","X":${nested(6000)}`), 32, true],
  ])('%s', (_name, text, max, expected) => {
    expect(jsonTooDeep(text, max)).toBe(expected);
    expect(jsonTooDeep(Buffer.from(text), max)).toBe(expected);
  });

  it('reads UTF-8 bytes: multi-byte characters never look like brackets', () => {
    const text = JSON.stringify({ s: '€[日本]😀'.repeat(50) });
    expect(jsonTooDeep(Buffer.from(text), 1)).toBe(false);
  });
});

describe('payloadProblem', () => {
  const limits = { maxBytes: 100, maxDepth: 3 };
  it.each<[string, string, string | undefined]>([
    ['within both bounds', '{"a":[1,2]}', undefined],
    ['too large (bytes, not characters)', JSON.stringify({ s: 'é'.repeat(48) }), 'too_large'],
    ['exactly the byte limit', `"${'x'.repeat(98)}"`, undefined],
    ['too deep', nested(4), 'too_deep'],
    ['size is judged first', nested(60), 'too_large'],
  ])('%s', (_name, text, expected) => {
    expect(payloadProblem(text, limits)).toBe(expected);
  });
});

describe('fitCloseReason: at most 123 bytes of UTF-8, never a broken character', () => {
  it.each<[string, string, string]>([
    ['short ASCII unchanged', 'token expired', 'token expired'],
    ['exactly 123 bytes unchanged', 'a'.repeat(123), 'a'.repeat(123)],
    ['124 ASCII bytes cut to 123', 'a'.repeat(124), 'a'.repeat(123)],
    ['2-byte characters cut on a boundary', 'é'.repeat(100), 'é'.repeat(61)],
    ['3-byte characters cut on a boundary', '€'.repeat(50), '€'.repeat(41)],
    ['4-byte characters cut on a boundary', 'x' + '😀'.repeat(40), 'x' + '😀'.repeat(30)],
    ['the invented alg of issue 8', `algorithm not accepted: ${'A'.repeat(130)}`, `algorithm not accepted: ${'A'.repeat(99)}`],
  ])('%s', (_name, reason, expected) => {
    const fitted = fitCloseReason(reason);
    expect(fitted).toBe(expected);
    expect(Buffer.byteLength(fitted)).toBeLessThanOrEqual(123);
    expect(fitted).not.toContain('\uFFFD');
  });
});

describe('subscribeResult: every refusal reason maps to a fixed label', () => {
  it.each<[string, string]>([
    ['empty jwt', 'empty_jwt'],
    ['no token verification key configured', 'not_configured'],
    ['token expired', 'expired'],
    ['token has no expiry', 'no_expiry'],
    ['token not active yet', 'not_active'],
    ['wrong audience', 'wrong_audience'],
    ['wrong issuer', 'wrong_issuer'],
    ['invalid signature', 'invalid_signature'],
    ['algorithm not accepted: none', 'algorithm'],
    [`algorithm not accepted: ${'Z'.repeat(130)}`, 'algorithm'],
    ['unknown signing key', 'unknown_key'],
    ['malformed token', 'malformed'],
    ['token names no user', 'no_user'],
    ['workspaces claim is not JSON', 'workspaces'],
    ['workspaces unavailable', 'workspaces'],
    ['user removed', 'revoked'],
    ['too many sessions for this user (3)', 'too_many_sessions'],
    ['authentication failed', 'other'],
    ['anything a client could invent ' + 'Q'.repeat(200), 'other'],
    ['', 'other'],
  ])('%s', (reason, label) => {
    expect(subscribeResult(reason)).toBe(label);
  });
});

describe('upgradePath: total, whatever the request target', () => {
  it.each<[unknown, string | undefined]>([
    ['/ws', '/ws'],
    ['/ws/', '/ws'],
    ['/ws///', '/ws'],
    ['/ws?token=x', '/ws'],
    ['/ws#frag', '/ws'],
    ['/ws/event?x=/chat', '/ws/event'],
    ['/', '/'],
    ['//', '/'],
    ['//[', '//['],
    ['//a:99999/ws', '//a:99999/ws'],
    ['//ws', '//ws'],
    ['/%', '/%'],
    ['/ws%2F', '/ws%2F'],
    ['?x', undefined],
    ['', undefined],
    ['*', undefined],
    ['http://evil/ws', undefined],
    ['ws', undefined],
    [undefined, undefined],
    [42, undefined],
  ])('%p -> %p', (target, path) => {
    expect(upgradePath(target)).toBe(path);
  });
});

describe('Admission: origin, total and per-address limits', () => {
  const req = (origin?: string) => ({ headers: origin === undefined ? {} : { origin } });

  it('refuses past the total with 503 and past the per-address count with 429, and forgets released connections', () => {
    const a = new Admission({ maxConnections: 3, maxConnectionsPerAddress: 2, allowedOrigins: [] });
    a.admit('1.1.1.1');
    a.admit('1.1.1.1');
    expect(a.check(req(), '1.1.1.1')).toMatchObject({ status: 429, reason: 'per_address' });
    expect(a.check(req(), '2.2.2.2')).toBeUndefined();
    a.admit('2.2.2.2');
    expect(a.check(req(), '3.3.3.3')).toMatchObject({ status: 503, reason: 'total' });
    a.release('1.1.1.1');
    a.release('3.3.3.3'); // never admitted: changes nothing
    expect(a.open).toBe(2);
    expect(a.check(req(), '1.1.1.1')).toBeUndefined();
  });

  it('0 means no limit', () => {
    const a = new Admission({ maxConnections: 0, maxConnectionsPerAddress: 0, allowedOrigins: [] });
    for (let i = 0; i < 1000; i++) a.admit('1.1.1.1');
    expect(a.check(req(), '1.1.1.1')).toBeUndefined();
  });

  it('reads the peer address (a syscall) only when a per-address limit needs it', () => {
    let reads = 0;
    const request = { socket: { get remoteAddress() { reads++; return '1.1.1.1'; } } } as Parameters<Admission['addressOf']>[0];
    expect(new Admission({ maxConnections: 3, maxConnectionsPerAddress: 2, allowedOrigins: [] }).addressOf(request)).toBe('1.1.1.1');
    expect(reads).toBe(1);
    expect(new Admission({ maxConnections: 3, maxConnectionsPerAddress: 0, allowedOrigins: [] }).addressOf(request)).toBe('');
    expect(reads).toBe(1);
  });

  it.each<[string | undefined, boolean]>([
    ['https://app.example.com', true],
    ['HTTPS://APP.EXAMPLE.COM/', true],
    ['https://evil.example.com', false],
    ['https://app.example.com.evil.com', false],
    ['null', false],
    [undefined, true], // not a browser: it could send any Origin
  ])('origin %p allowed: %p', (origin, allowed) => {
    const a = new Admission({ maxConnections: 0, maxConnectionsPerAddress: 0, allowedOrigins: ['https://app.example.com'] });
    expect(a.check(req(origin), '1.1.1.1')).toEqual(allowed ? undefined : { status: 403, reason: 'origin', message: 'origin not allowed' });
  });
});

describe('origins are compared normalised (ALLOWED_ORIGINS and the Origin header)', () => {
  it.each<[string, string | undefined]>([
    ['https://ok.example', 'https://ok.example'],
    ['https://ok.example:443', 'https://ok.example'],
    ['http://x:80', 'http://x'],
    ['HTTPS://OK.Example:443/', 'https://ok.example'],
    ['https://ok.example:8443', 'https://ok.example:8443'],
    ['http://ok.example:443', 'http://ok.example:443'],
    ['https://ok.example:80', 'https://ok.example:80'],
    ['http://[::1]:80', 'http://[::1]'],
    ['https://bücher.example', 'https://xn--bcher-kva.example'],
    ['  https://ok.example  ', 'https://ok.example'],
    ['null', undefined],
    ['file:///etc/passwd', undefined],
    ['ws://ok.example', undefined],
    ['https://ok.example/path', undefined],
    ['https://ok.example/?q', undefined],
    ['https://user@ok.example', undefined],
    ['ok.example', undefined],
    ['', undefined],
  ])('%p -> %p', (raw, expected) => {
    expect(normalizeOrigin(raw)).toBe(expected);
  });

  it.each<[string, string, boolean]>([
    ['https://ok.example', 'https://ok.example:443', true],
    ['https://ok.example:443', 'https://ok.example', true],
    ['http://x', 'http://x:80', true],
    ['http://x:80', 'http://x', true],
    ['https://OK.example', 'https://ok.EXAMPLE', true],
    ['https://ok.example', 'http://ok.example', false],
    ['https://ok.example', 'https://ok.example:8443', false],
    ['http://x', 'http://x:443', false],
    ['https://ok.example', 'https://ok.example.evil.com', false],
    ['https://ok.example', 'null', false],
    ['https://ok.example', 'https://ok.example/evil', false],
  ])('ALLOWED_ORIGINS=%p, Origin %p: allowed %p', (allowed, origin, admitted) => {
    const { allowedOrigins } = loadConfig({ ALLOWED_ORIGINS: allowed });
    const a = new Admission({ maxConnections: 0, maxConnectionsPerAddress: 0, allowedOrigins });
    expect(a.check({ headers: { origin } }, '1.1.1.1')).toEqual(admitted ? undefined : { status: 403, reason: 'origin', message: 'origin not allowed' });
  });
});
