/**
 * The answers of the HTTP endpoints the service calls (bounded-fetch.ts) against a real local
 * HTTP server: 40 MB answers (declared or streamed), redirects to the same and to another
 * origin, slow headers and slow bodies; then each caller (node lookup, NODE authorization,
 * workspaces resolver, JWKS) given a 40 MB answer.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { exportJWK } from 'jose';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthError } from '../../src/auth/auth-error.js';
import { TokenVerifier } from '../../src/auth/token-verifier.js';
import { NodeAccessClient } from '../../src/chat/node-access.js';
import { HttpAnswerRefused, boundedFetchFn, fetchBounded, httpAnswerTally, type BoundedFetchOptions, type HttpResult, type HttpTarget } from '../../src/common/bounded-fetch.js';
import { loadConfig } from '../../src/config/config.js';
import { NodeLocator } from '../../src/topics/node-locator.js';

Logger.overrideLogger(false);

const MB = 1_000_000;
const MAX = 64 * 1024;

/** What the server did for each request: whether it wrote its whole answer. */
const served: { path: string; finished: boolean }[] = [];
const chunk = Buffer.alloc(64 * 1024, ' ');

/** A JSON body of `size` bytes: `{"<key>":<value>,"pad":"   ..."}`. */
function padded(prefix: string, size: number): Buffer {
  const body = Buffer.alloc(size, ' ');
  body.write(`{${prefix},"pad":"`);
  body.write('"}', size - 2);
  return body;
}

/** Writes `body` in chunks, respecting back-pressure, until done or the client goes away. */
function stream(res: ServerResponse, total: number): void {
  let sent = 0;
  const more = () => {
    while (sent < total && !res.destroyed) {
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', more);
    }
    if (sent >= total) res.end();
  };
  more();
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
let jwk: object;

let main: Server;
let other: Server;
let base = '';
let otherBase = '';
let otherHits = 0;

function route(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '').split('?')[0];
  const entry = { path, finished: false };
  served.push(entry);
  res.on('finish', () => (entry.finished = true));
  const json = (body: string | Buffer, status = 200): void => void res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  switch (path) {
    case '/small':
      return json('{"Path":"ds/a.txt"}');
    case '/exactly-max':
      return json(padded('"Path":"ds/a.txt"', MAX));
    case '/max-plus-one':
      return json(padded('"Path":"ds/a.txt"', MAX + 1));
    case '/big-declared':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 40 * MB });
      return stream(res, 40 * MB);
    case '/big-streamed': // chunked: no length announced
      res.writeHead(200, { 'content-type': 'application/json' });
      return stream(res, 40 * MB);
    case '/redirect-other':
      return void res.writeHead(302, { location: `${otherBase}/small` }).end();
    case '/redirect-same':
      return void res.writeHead(307, { location: '/small' }).end();
    case '/status':
      return json('{"Path":"ds/a.txt"}', 500);
    case '/slow-headers':
      return; // never answers
    case '/slow-body': {
      res.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(' ')), 50);
      return;
    }
    // The callers' endpoints, answering 40 MB of otherwise valid JSON.
    case '/lookup-40mb':
      return json(padded('"Path":"ds/a.txt"', 40 * MB));
    case '/auth-30mb':
      return json(padded('"read":true,"write":true', 30 * MB));
    case '/workspaces-40mb': {
      const body = Buffer.alloc(40 * MB, ' ');
      body.write('[{"uuid":"w1","slug":"s","roots":[{"path":"p"}]}');
      body.write(']', 40 * MB - 1);
      return json(body);
    }
    case '/jwks-40mb':
      return json(padded(`"keys":[${JSON.stringify(jwk)}]`, 40 * MB));
    case '/jwks':
      return json(JSON.stringify({ keys: [jwk] }));
    default:
      return json('{}', 404);
  }
}

beforeAll(async () => {
  jwk = { ...(await exportJWK(createPublicKey(rsa.publicKey))), kid: 'k1', alg: 'RS256', use: 'sig' };
  main = createServer(route);
  other = createServer((_req, res) => (otherHits++, res.writeHead(200).end('{"Path":"elsewhere"}')));
  await Promise.all([main, other].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  base = `http://127.0.0.1:${(main.address() as AddressInfo).port}`;
  otherBase = `http://localhost:${(other.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of [main, other]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const count = (target: HttpTarget, result: HttpResult) => httpAnswerTally().find(([t, r]) => t === target && r === result)?.[2] ?? 0;

describe('fetchBounded against a real HTTP server', () => {
  const opts = (extra: Partial<BoundedFetchOptions> = {}): BoundedFetchOptions => ({ target: 'node_lookup', maxBytes: MAX, timeoutMs: 2000, ...extra });

  it.each<[string, string, Partial<BoundedFetchOptions>, HttpResult, number | undefined]>([
    ['a small answer', '/small', {}, 'ok', 200],
    ['an answer of exactly maxBytes', '/exactly-max', {}, 'ok', 200],
    ['one byte over maxBytes', '/max-plus-one', {}, 'too_large', 200],
    ['40 MB announced by Content-Length: dropped before reading', '/big-declared', {}, 'too_large', 200],
    ['40 MB streamed without a length: dropped once past maxBytes', '/big-streamed', {}, 'too_large', 200],
    ['a redirect to another origin: not followed', '/redirect-other', {}, 'redirect', 302],
    ['a redirect to the same origin: not followed either', '/redirect-same', {}, 'redirect', 307],
    ['an error status', '/status', {}, 'status', 500],
    ['headers that never come', '/slow-headers', { timeoutMs: 300 }, 'timeout', undefined],
    ['a body that drips a byte every 50 ms', '/slow-body', { timeoutMs: 300 }, 'timeout', undefined],
    ['no memory for it in the budget: not read', '/small', { reserve: () => undefined }, 'memory', 200],
  ])('%s -> %s', async (_name, path, extra, result, status) => {
    const before = count('node_lookup', result);
    const started = Date.now();
    const answer = await fetchBounded(`${base}${path}`, {}, opts(extra));
    expect(answer.ok ? 'ok' : answer.result).toBe(result);
    expect(answer.status).toBe(status);
    expect(count('node_lookup', result)).toBe(before + 1);
    expect(Date.now() - started).toBeLessThan(1500);
    if (answer.ok) expect(answer.body.length).toBeLessThanOrEqual(MAX);
  });

  it('leaves the 40 MB answers unsent: the connection is dropped, not read to the end', async () => {
    for (const path of ['/big-declared', '/big-streamed']) {
      await fetchBounded(`${base}${path}`, {}, opts());
      const entry = served.filter((s) => s.path === path).pop()!;
      await new Promise((r) => setTimeout(r, 200));
      expect(entry.finished).toBe(false);
    }
  });

  it('never asks the other origin of a redirect', async () => {
    const before = otherHits;
    await fetchBounded(`${base}/redirect-other`, {}, opts());
    expect(otherHits).toBe(before);
  });

  it('holds the declared length against the memory budget while reading, and gives it back', async () => {
    const held: number[] = [];
    let released = 0;
    const answer = await fetchBounded(`${base}/small`, {}, opts({ reserve: (n) => (held.push(n), { release: () => void released++ }) }));
    expect(answer.ok).toBe(true);
    expect(held).toEqual([Buffer.byteLength('{"Path":"ds/a.txt"}')]);
    expect(released).toBe(1);
  });

  it('unreachable: error', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect(await fetchBounded(`http://127.0.0.1:${port}/`, {}, opts())).toEqual({ ok: false, result: 'error' });
  });

  it('boundedFetchFn: a Response when the answer fits, HttpAnswerRefused when not', async () => {
    const f = boundedFetchFn(opts());
    expect(await (await f(`${base}/small`)).json()).toEqual({ Path: 'ds/a.txt' });
    await expect(f(`${base}/big-streamed`)).rejects.toEqual(new HttpAnswerRefused('too_large'));
  });
});

describe('every caller reads its endpoint within its bound', () => {
  const token = () => new JwtService({}).sign({ name: 'alice', exp: Math.floor(Date.now() / 1000) + 600 }, { secret: 'a-secret-of-some-length' });

  it.each<[string, HttpTarget, () => Promise<unknown>, unknown]>([
    ['node lookup (NODE_LOOKUP_URL), 40 MB', 'node_lookup', () => new NodeLocator({ url: `${base}/lookup-40mb` }).locate('u'), undefined],
    ['NODE chat authorization (CHAT_NODE_AUTH_URL), 30 MB granting read and write', 'node_auth', () => new NodeAccessClient({ url: `${base}/auth-30mb`, maxBytes: MAX }).check('tok', 'n1'), undefined],
    [
      'workspaces resolver (WORKSPACES_URL), 40 MB',
      'workspaces',
      () => new TokenVerifier(loadConfig({ JWT_SECRET: 'a-secret-of-some-length', WORKSPACES_URL: `${base}/workspaces-40mb` })).verify(token()).catch((err: Error) => err),
      new AuthError('workspaces unavailable'),
    ],
    [
      'JWKS (JWT_JWKS_URL), 40 MB holding the right key',
      'jwks',
      () => new TokenVerifier(loadConfig({ JWT_JWKS_URL: `${base}/jwks-40mb` })).verify(new JwtService({}).sign({ name: 'alice', exp: Math.floor(Date.now() / 1000) + 600 }, { privateKey: rsa.privateKey, algorithm: 'RS256', keyid: 'k1' })).catch((err: Error) => err),
      new AuthError('unknown signing key'),
    ],
  ])('%s: refused and counted as too_large', async (_name, target, call, expected) => {
    const before = count(target, 'too_large');
    expect(await call()).toEqual(expected);
    expect(count(target, 'too_large')).toBe(before + 1);
  });

  it('a node lookup answered by a redirect to another origin: not followed, counted', async () => {
    const [before, hits] = [count('node_lookup', 'redirect'), otherHits];
    expect(await new NodeLocator({ url: `${base}/redirect-other` }).locate('u')).toBeUndefined();
    expect(otherHits).toBe(hits);
    expect(count('node_lookup', 'redirect')).toBe(before + 1);
  });

  it('a JWKS that fits still verifies', async () => {
    const verifier = new TokenVerifier(loadConfig({ JWT_JWKS_URL: `${base}/jwks` }));
    const signed = new JwtService({}).sign({ name: 'alice', exp: Math.floor(Date.now() / 1000) + 600 }, { privateKey: rsa.privateKey, algorithm: 'RS256', keyid: 'k1' });
    await expect(verifier.verify(signed)).resolves.toMatchObject({ user: 'alice' });
  });
});
