/**
 * Calls over the socket (PROTOCOL 9) against a real local HTTP backend that verifies each
 * call's identity token, on a real instance (embedded bus: pushes go through /api/publish).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { API_KEY, Client, ask, framesBefore, nextSince, sleep, startInstance, token, ws, type Frame, type Instance } from '../support/harness.js';
import { CALL_SECRET, CallBackend } from '../support/call-backend.js';

const W1 = ws('w1', 'projects', 'pydiods1/projects');
const W2 = ws('w2', 'common', 'pydiods1/common');
const TIMEOUT_MS = 2000;

let seq = 0;
const nextId = () => `c${++seq}`;
const answerTo = (id: unknown) => (f: Frame) => (f['@type'] === 'result' || f['@type'] === 'error') && f.id === id;

describe('calls over the socket (PROTOCOL 9)', () => {
  let app: Instance;
  let backend: CallBackend;
  let other: CallBackend;
  const opened: Client[] = [];
  const aliceToken = (claims: object = {}, expiresIn?: number) => token({ name: 'alice', sub: 'u-alice', profile: 'admin', roles: ['r1', 'r2'], workspaces: [W1, W2], ...claims }, { expiresIn });

  const connect = async (jwt = aliceToken()) => {
    const c = await Client.subscribed(`${app.wsUrl}/ws`, jwt);
    opened.push(c);
    return c;
  };
  const call = (c: Client, method: string, params?: unknown, id: unknown = nextId(), timeoutMs?: number) => ask(c, { '@type': 'call', id, method, params }, answerTo(id), timeoutMs);
  const sessionId = (c: Client) => c.frames.find((f) => f['@type'] === 'subscribed')!.sessionId as string;
  const push = async (data: object) => {
    const res = await fetch(`${app.url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'switchboard.push', data }),
    });
    expect(res.status).toBe(202);
  };
  /** Barrier: a push to the session itself; resolves with what it received from `from` up to it. */
  const upToSentinel = async (c: Client, from = 0) => {
    const sentinel = `s${++seq}`;
    await push({ pushToSession: sessionId(c), payload: { sentinel } });
    return framesBefore(c, from, (f) => f.sentinel === sentinel);
  };

  beforeAll(async () => {
    backend = await CallBackend.start();
    other = await CallBackend.start();
    app = await startInstance({
      CALL_ROUTES: `${backend.routes('echo', 'slow', 'never', 'fail', 'refuse', 'empty', 'notjson', 'huge-declared', 'huge-stream', 'redirect')} down=http://127.0.0.1:9/x`,
      CALL_SIGNING_SECRET: CALL_SECRET,
      CALL_TIMEOUT_MS: String(TIMEOUT_MS),
      CALL_MAX_PER_SESSION: '2',
      CALL_MAX_IN_FLIGHT: '3',
      CALL_MAX_RESPONSE_BYTES: String(64 * 1024),
      TOKEN_EXPIRY_GRACE_SECONDS: '60',
    });
  });

  afterAll(async () => {
    opened.forEach((c) => c.close());
    await app?.close();
    await backend?.close();
    await other?.close();
  });

  it('POSTs the params with a token the service signed for the caller, and answers the backend JSON', async () => {
    const clientJwt = aliceToken();
    const alice = await connect(clientJwt);
    const answer = await call(alice, 'echo', { q: 'hello', n: [1, 2] }, 7);
    expect(answer).toMatchObject({ '@type': 'result', id: 7 });
    const { claims, params } = answer.result as { claims: Record<string, unknown>; params: unknown };
    expect(params).toEqual({ q: 'hello', n: [1, 2] });
    expect(claims).toMatchObject({
      iss: 'switchboard',
      aud: 'echo',
      sub: 'u-alice',
      user: 'alice',
      profile: 'admin',
      roles: ['r1', 'r2'],
      workspaces: [
        { uuid: 'w1', slug: 'projects' },
        { uuid: 'w2', slug: 'common' },
      ],
      sid: sessionId(alice),
    });
    // Short-lived: the call's timeout (rounded up) plus 30 s of skew.
    expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(Math.ceil(TIMEOUT_MS / 1000) + 30);
    const [received] = (await backend.arrived('echo')).slice(-1);
    expect(received.refused).toBeUndefined();
    // Never the client's own token.
    expect(received.authorization).not.toContain(clientJwt);
    expect(JSON.parse(received.body)).toEqual({ method: 'echo', params: { q: 'hello', n: [1, 2] } });
  });

  it('a token of another key, or of another method, is refused by the backend that checks it', async () => {
    const alice = await connect();
    await call(alice, 'echo', { n: 1 });
    const [{ authorization, body }] = (await backend.arrived('echo')).slice(-1);
    const replay = (route: string, headers: Record<string, string>, payload: string) =>
      fetch(`${backend.url}/${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload });
    // The echo token sent to another method, the params changed, a token signed with the client's key.
    expect((await replay('refuse', { authorization: authorization! }, body.replace('"echo"', '"refuse"'))).status).toBe(401);
    expect((await replay('echo', { authorization: authorization! }, body.replace('"n":1', '"n":2'))).status).toBe(401);
    expect((await replay('echo', { authorization: `Bearer ${aliceToken()}` }, body)).status).toBe(401);
  });

  it('refuses a method CALL_ROUTES does not list, with a stable code and without a request', async () => {
    const alice = await connect();
    const before = backend.received.length;
    for (const method of ['nope', '__proto__', 'constructor', 'x'.repeat(65)]) {
      const id = nextId();
      const answer = await call(alice, method, {}, id);
      expect(answer).toMatchObject({ '@type': 'error', id, code: method.length > 64 ? 'bad_frame' : 'unknown_method' });
    }
    expect(backend.received.length).toBe(before);
  });

  it('refuses a call before the subscribe, and malformed call frames, and keeps the socket open', async () => {
    const c = await Client.connect(`${app.wsUrl}/ws`);
    opened.push(c);
    expect(await call(c, 'echo', {}, 'early')).toMatchObject({ '@type': 'error', id: 'early', code: 'not_subscribed' });
    c.send({ '@type': 'subscribe', jwt: aliceToken() });
    await c.next((f) => f['@type'] === 'subscribed');
    const bad = (frame: object) => ask(c, frame, (f) => f['@type'] === 'error' && f.code === 'bad_frame');
    const noId = await bad({ '@type': 'call', method: 'echo' });
    expect(noId).not.toHaveProperty('id');
    expect(noId.error).toBe('call.id must be a string or a non-negative integer');
    expect(await bad({ '@type': 'call', id: { a: 1 }, method: 'echo' })).not.toHaveProperty('id');
    expect(await bad({ '@type': 'call', id: -1, method: 'echo' })).not.toHaveProperty('id');
    expect(await bad({ '@type': 'call', id: 'x'.repeat(65), method: 'echo' })).not.toHaveProperty('id');
    expect(await bad({ '@type': 'call', id: 'm', method: 5 })).toMatchObject({ id: 'm', error: 'call.method must be a string' });
    expect(await call(c, 'echo', undefined, 'ok')).toMatchObject({ '@type': 'result', id: 'ok', result: { params: {} } });
  });

  it('answers call_timeout when the backend does not answer within CALL_TIMEOUT_MS, and drops the request', async () => {
    const alice = await connect();
    const started = Date.now();
    const answer = await call(alice, 'never', {}, 'late', 5000);
    const took = Date.now() - started;
    expect(answer).toMatchObject({ '@type': 'error', id: 'late', code: 'call_timeout' });
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(took).toBeLessThan(TIMEOUT_MS + 1500);
    const [received] = await backend.arrived('never');
    for (let i = 0; i < 50 && !received.aborted; i++) await sleep(20);
    expect(received.aborted).toBe(true);
  });

  it('a 500 is call_failed with the status and never the body; a 4xx is call_refused with its JSON', async () => {
    const alice = await connect();
    const failed = await call(alice, 'fail', {});
    expect(failed).toMatchObject({ '@type': 'error', code: 'call_failed', status: 500 });
    expect(JSON.stringify(failed)).not.toContain('secret');
    expect(await call(alice, 'refuse', { node: 'n1' })).toMatchObject({ code: 'call_refused', status: 403, data: { reason: 'not yours', node: 'n1' } });
    expect(await call(alice, 'notjson', {})).toMatchObject({ code: 'call_failed', error: 'backend answer is not JSON', status: 200 });
    expect(await call(alice, 'empty', {})).toMatchObject({ '@type': 'result', result: null });
    expect(await call(alice, 'down', {})).toMatchObject({ code: 'call_failed', error: 'backend unreachable' });
  });

  it('a backend answer over CALL_MAX_RESPONSE_BYTES is call_too_large, declared or streamed, and its stream is cut', async () => {
    const alice = await connect();
    expect(await call(alice, 'huge-declared', {})).toMatchObject({ code: 'call_too_large', status: 200 });
    expect(await call(alice, 'huge-stream', {})).toMatchObject({ code: 'call_too_large', status: 200 });
    const [streamed] = await backend.arrived('huge-stream');
    for (let i = 0; i < 50 && !streamed.aborted; i++) await sleep(20);
    expect(streamed.aborted).toBe(true);
    // The socket is fine afterwards.
    expect(await call(alice, 'echo', {})).toMatchObject({ '@type': 'result' });
  });

  it('never follows a redirect: the identity token does not reach another origin', async () => {
    const alice = await connect();
    expect(await call(alice, 'redirect', { to: `${other.url}/echo` })).toMatchObject({ code: 'call_failed', status: 307 });
    expect(other.received).toEqual([]);
  });

  it('a slow backend delays neither the caller events nor its later frames', async () => {
    const alice = await connect();
    const from = alice.frames.length;
    alice.send({ '@type': 'call', id: 'slow-1', method: 'slow', params: { key: 'k-events' } });
    await backend.arrivedWith('k-events');
    expect(backend.isHeld('k-events')).toBe(true);
    // Frames after the call are handled, and events delivered, while the backend holds it.
    await ask(alice, { '@type': 'joinRoom', room: 'user:alice' }, (f) => f['@type'] === 'room' && f.joined === true);
    await push({ pushToUser: 'alice', payload: { news: 'while calling' } });
    await nextSince(alice, from, (f) => f.news === 'while calling');
    expect(alice.frames.slice(from).filter(answerTo('slow-1'))).toEqual([]);
    backend.release('k-events');
    expect(await alice.next(answerTo('slow-1'))).toMatchObject({ '@type': 'result', result: { released: 'k-events' } });
  });

  it('bounds calls in flight per session (CALL_MAX_PER_SESSION) and per instance (CALL_MAX_IN_FLIGHT)', async () => {
    const a1 = await connect();
    const a2 = await connect();
    const slow = (c: Client, key: string) => c.send({ '@type': 'call', id: key, method: 'slow', params: { key } });
    slow(a1, 'p1');
    slow(a1, 'p2');
    await backend.arrivedWith('"p1"');
    await backend.arrivedWith('"p2"');
    expect(await call(a1, 'echo', {}, 'p3')).toMatchObject({ code: 'too_many_calls', error: 'too many calls in flight (2)' });
    // Another session of the same user has its own bound.
    expect(await call(a2, 'echo', {}, 'own-bound')).toMatchObject({ '@type': 'result' });
    slow(a2, 'q1');
    await backend.arrivedWith('"q1"');
    // The id of a call in flight cannot be used again until it is answered.
    expect(await call(a2, 'slow', { key: 'q1' }, 'q1')).toMatchObject({ code: 'bad_frame', error: 'a call with this id is in flight' });
    expect(await call(a2, 'echo', {}, 'q2')).toMatchObject({ code: 'too_many_calls', error: 'too many calls on this instance' });
    for (const key of ['p1', 'p2', 'q1']) backend.release(key);
    for (const [c, id] of [[a1, 'p1'], [a1, 'p2'], [a2, 'q1']] as const) await c.next((f) => f['@type'] === 'result' && f.id === id);
    // Slots are back.
    expect(await call(a1, 'echo', {}, 'p4')).toMatchObject({ '@type': 'result' });
  });

  it('refuses a call from a session whose token expired (in the grace), without a request', async () => {
    const alice = await connect(aliceToken({}, 2));
    const exp = alice.frames.find((f) => f['@type'] === 'subscribed')!.expiresAt as number;
    while (Date.now() <= exp * 1000) await sleep(50);
    const before = backend.received.length;
    expect(await call(alice, 'echo', {}, 'expired')).toMatchObject({ '@type': 'error', id: 'expired', code: 'token_expired' });
    expect(backend.received.length).toBe(before);
    // Still open: the grace is for renewing, and a renewed session calls again.
    await ask(alice, { '@type': 'subscribe', jwt: aliceToken() }, (f) => f['@type'] === 'subscribed' && f.expiresAt !== exp);
    expect(await call(alice, 'echo', {}, 'renewed')).toMatchObject({ '@type': 'result' });
  });

  it('answers the calling session only, not another session of the same user', async () => {
    const caller = await connect();
    const sibling = await connect();
    const from = sibling.frames.length;
    await call(caller, 'echo', {}, 'mine');
    expect((await upToSentinel(sibling, from)).filter((f) => f.id === 'mine')).toEqual([]);
  });

  it('a session that re-subscribes as another user gets call_cancelled, never the answer, and the request is dropped', async () => {
    const c = await connect();
    c.send({ '@type': 'call', id: 'switch', method: 'slow', params: { key: 'k-switch' } });
    const held = await backend.arrivedWith('k-switch');
    const from = c.frames.length;
    c.send({ '@type': 'subscribe', jwt: token({ name: 'bob', workspaces: [W2] }) });
    const ack = await nextSince(c, from, (f) => f['@type'] === 'subscribed');
    const cancelled = c.frames.slice(from).find(answerTo('switch'));
    expect(cancelled).toMatchObject({ '@type': 'error', code: 'call_cancelled' });
    // The cancel comes before the new identity's ack.
    expect(c.frames.indexOf(cancelled!)).toBeLessThan(c.frames.indexOf(ack));
    for (let i = 0; i < 50 && !held.aborted; i++) await sleep(20);
    expect(held.aborted).toBe(true);
    backend.release('k-switch');
    const after = c.frames.indexOf(ack);
    expect((await upToSentinel(c, after)).filter((f) => f['@type'] === 'result')).toEqual([]);
  });

  it('a refresh of the same rights keeps the call; a session that closes drops its request', async () => {
    const c = await connect();
    c.send({ '@type': 'call', id: 'refresh', method: 'slow', params: { key: 'k-refresh' } });
    await backend.arrivedWith('k-refresh');
    await ask(c, { '@type': 'subscribe', jwt: aliceToken() }, (f) => f['@type'] === 'subscribed');
    backend.release('k-refresh');
    expect(await c.next(answerTo('refresh'))).toMatchObject({ '@type': 'result' });

    const closing = await connect();
    closing.send({ '@type': 'call', id: 'gone', method: 'slow', params: { key: 'k-gone' } });
    const held = await backend.arrivedWith('k-gone');
    closing.close();
    for (let i = 0; i < 50 && !held.aborted; i++) await sleep(20);
    expect(held.aborted).toBe(true);
  });

  it('counts calls per method and result in /metrics, with no label for unknown method names', async () => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(text).toMatch(/switchboard_calls_total\{method="echo",result="ok"\} [1-9]/);
    expect(text).toMatch(/switchboard_calls_total\{method="unknown",result="unknown_method"\} [1-9]/);
    expect(text).not.toContain('method="nope"');
  });
});
