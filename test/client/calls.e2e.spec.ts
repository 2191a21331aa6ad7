/**
 * `client.call()` (PROTOCOL 9) against a real Switchboard and a real local HTTP backend that
 * verifies each call's identity token (test/support/call-backend.ts): the result, each error
 * code reaching the promise as that code, the client's own timeout, abort, the connection lost
 * with calls in flight (rejected, never sent again), calls made while not live, the bound on
 * calls pending, and an answer reaching the calling client only.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { WebSocket } from 'ws';
import { CALL_TIMEOUT_MS, CallError, MAX_PENDING_CALLS, Switchboard, type WebSocketConstructor } from '../../client/src/index.js';
import { CALL_SECRET, CallBackend } from '../support/call-backend.js';
import { Recorder } from '../support/client-harness.js';
import { API_KEY, sleep, startInstance, token, ws, type Instance } from '../support/harness.js';

const W1 = ws('w1', 'projects', 'pydiods1/projects');
// Above the `expiring` of a 4 s token (half-way: 1 to 2 s after it is made), for the call_cancelled test.
const SERVER_TIMEOUT_MS = 3000;
type Frame = Record<string, unknown>;

/** A `ws` WebSocket that records what its client sends and receives (one log per client). */
function recordingSocket(log: { sent: Frame[]; received: Frame[] }): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
      this.addEventListener('message', (ev) => log.received.push(JSON.parse(String(ev.data))));
    }
    override send(data: string): void {
      log.sent.push(JSON.parse(data));
      super.send(data);
    }
  } as unknown as WebSocketConstructor;
}

/** The CallError a promise rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<CallError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(CallError);
    return err as CallError;
  }
  throw new Error('the call resolved');
}

describe('client.call() against the service and a backend', () => {
  let app: Instance;
  let backend: CallBackend;
  const clients: Switchboard[] = [];
  const alice = (expiresIn?: number) => token({ name: 'alice', sub: 'u-alice', roles: ['r1'], workspaces: [W1] }, { expiresIn });

  function client(tokens: () => string | Promise<string> = () => alice(), extra: Partial<ConstructorParameters<typeof Switchboard>[0]> = {}) {
    const log = { sent: [] as Frame[], received: [] as Frame[] };
    const c = new Switchboard({ url: app.url, token: tokens, WebSocket: recordingSocket(log), random: () => 0.5, backoff: { initialMs: 40, maxMs: 160 }, autoConnect: false, ...extra });
    clients.push(c);
    const pushes = new Recorder<unknown>();
    c.on('push', pushes.push);
    return { c, log, pushes, calls: () => log.sent.filter((f) => f['@type'] === 'call') };
  }
  const live = (c: Switchboard) =>
    new Promise<void>((resolve) => {
      if (c.status.state === 'live') return resolve();
      const off = c.on('status', (s) => s.state === 'live' && (off(), resolve()));
    });
  async function liveClient(tokens?: () => string | Promise<string>) {
    const made = client(tokens);
    made.c.connect();
    await live(made.c);
    return made;
  }
  async function push(data: object): Promise<void> {
    const res = await fetch(`${app.url}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'switchboard.push', data }) });
    expect(res.status).toBe(202);
  }
  /** Barrier: a push to the client's own session, received after everything sent to it before. */
  async function barrier(made: { c: Switchboard; pushes: Recorder<unknown> }): Promise<void> {
    const sentinel = `s-${Math.random()}`;
    await push({ pushToSession: made.c.session!.sessionId, payload: { sentinel } });
    await made.pushes.next((p) => (p as Frame).sentinel === sentinel);
  }

  beforeAll(async () => {
    backend = await CallBackend.start();
    app = await startInstance({
      CALL_ROUTES: `${backend.routes('echo', 'slow', 'never', 'fail', 'refuse', 'empty', 'huge-declared')} down=http://127.0.0.1:9/x`,
      CALL_SIGNING_SECRET: CALL_SECRET,
      CALL_TIMEOUT_MS: String(SERVER_TIMEOUT_MS),
      CALL_MAX_PER_SESSION: '2',
      CALL_MAX_RESPONSE_BYTES: String(64 * 1024),
      TOKEN_EXPIRY_GRACE_SECONDS: '60',
    });
  });

  afterEach(async () => {
    clients.splice(0).forEach((c) => c.close());
    for (const key of ['k-timeout', 'k-abort', 'k-drop', 'k-1', 'k-2', 'k-switch', 'k-close']) backend.release(key);
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  it("resolves with the backend's JSON, called as the session's verified identity", async () => {
    const { c, calls } = await liveClient();
    const answer = await c.call<{ claims: Frame; params: unknown }>('echo', { q: 'hello', when: new Date(0) });
    // Sent as JSON, as the service sees it (toJSON applied).
    expect(answer.params).toEqual({ q: 'hello', when: '1970-01-01T00:00:00.000Z' });
    expect(answer.claims).toMatchObject({ aud: 'echo', user: 'alice', sub: 'u-alice', roles: ['r1'], sid: c.session!.sessionId });
    expect(await c.call('empty')).toBeNull();
    // Ids are unique on the connection.
    const ids = calls().map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each([
    ['unknown_method', 'nope', {}, {}],
    ['bad_frame', 'x'.repeat(65), {}, {}],
    ['call_refused', 'refuse', { node: 'n1' }, { status: 403, data: { reason: 'not yours', node: 'n1' } }],
    ['call_failed', 'fail', {}, { status: 500 }],
    ['call_failed', 'down', {}, {}],
    ['call_too_large', 'huge-declared', {}, { status: 200 }],
    ['call_timeout', 'never', {}, {}],
  ])('the service answers %s (%s): the promise rejects with that code, and its status and data', async (code, method, params, extra) => {
    const { c } = await liveClient();
    const err = await rejection(c.call(method, params));
    expect(err).toMatchObject({ code, method: method, local: false, ...extra });
    if (code === 'call_failed') expect(JSON.stringify(err)).not.toContain('secret');
  });

  it('too_many_calls beyond CALL_MAX_PER_SESSION, as its code; the slots come back', async () => {
    const { c } = await liveClient();
    const held = [c.call('slow', { key: 'k-1' }), c.call('slow', { key: 'k-2' })];
    await backend.arrivedWith('"k-2"');
    expect(await rejection(c.call('echo'))).toMatchObject({ code: 'too_many_calls', local: false });
    backend.release('k-1');
    backend.release('k-2');
    expect(await Promise.all(held)).toEqual([{ released: 'k-1' }, { released: 'k-2' }]);
    await expect(c.call('echo')).resolves.toMatchObject({ params: {} });
  });

  it('token_expired: a session in its grace (the provider had no new token) is refused, and calls again once renewed', async () => {
    let jwt = alice(2);
    const { c } = await liveClient(() => jwt);
    const exp = c.session!.expiresAt!;
    while (Date.now() <= exp * 1000) await sleep(50);
    expect(await rejection(c.call('echo'))).toMatchObject({ code: 'token_expired', local: false });
    jwt = alice();
    c.drop(); // reconnects with the provider's new token
    await live(c);
    await expect(c.call('echo')).resolves.toMatchObject({ params: {} });
  });

  it('call_cancelled: the session re-subscribes as another user (renewal) with the call in flight', async () => {
    // The provider's second token (the renewal, at `expiring`, half-way through the first) is bob's.
    const tokens = [alice(4), token({ name: 'bob', workspaces: [W1] })];
    let asked = 0;
    const { c } = await liveClient(() => tokens[Math.min(asked++, 1)]);
    const pending = c.call('slow', { key: 'k-switch' });
    const held = await backend.arrivedWith('k-switch');
    expect(c.session!.user).toBe('alice');
    expect(await rejection(pending)).toMatchObject({ code: 'call_cancelled', local: false });
    while (c.session!.user !== 'bob') await sleep(10); // the new identity's ack follows the cancel

    for (let i = 0; i < 50 && !held.aborted; i++) await sleep(20);
    expect(held.aborted).toBe(true);
  });

  it(`the client's own timeout (default ${CALL_TIMEOUT_MS} ms, above the service's 5 s): rejects call_timeout locally, and the late answer is dropped`, async () => {
    const made = await liveClient();
    const started = Date.now();
    const err = await rejection(made.c.call('slow', { key: 'k-timeout' }, { timeoutMs: 300 }));
    expect(err).toMatchObject({ code: 'call_timeout', local: true });
    expect(Date.now() - started).toBeLessThan(SERVER_TIMEOUT_MS);
    // The answer comes after all: no handler sees it, nothing breaks.
    backend.release('k-timeout');
    const id = made.calls()[0].id;
    while (!made.log.received.some((f) => f['@type'] === 'result' && f.id === id)) await sleep(10);
    await barrier(made);
    expect(made.pushes.items.filter((p) => (p as Frame)['@type'] === 'result')).toEqual([]);
    await expect(made.c.call('echo')).resolves.toMatchObject({ params: {} });
  });

  it('an abort rejects at once with call_cancelled; an aborted signal sends nothing', async () => {
    const made = await liveClient();
    const abort = new AbortController();
    const pending = made.c.call('slow', { key: 'k-abort' }, { signal: abort.signal });
    await backend.arrivedWith('k-abort');
    abort.abort(new Error('the user went elsewhere'));
    const err = await rejection(pending);
    expect(err).toMatchObject({ code: 'call_cancelled', local: true });
    expect((err.cause as Error).message).toBe('the user went elsewhere');
    const sent = made.calls().length;
    expect(await rejection(made.c.call('echo', {}, { signal: abort.signal }))).toMatchObject({ code: 'call_cancelled', local: true });
    expect(made.calls()).toHaveLength(sent);
  });

  it('the connection lost with calls in flight: they reject with disconnected and are never sent again', async () => {
    const made = await liveClient();
    const pending = made.c.call('slow', { key: 'k-drop' });
    const held = await backend.arrivedWith('k-drop');
    made.c.drop();
    expect(await rejection(pending)).toMatchObject({ code: 'disconnected', local: true });
    // The service dropped the request with the session.
    for (let i = 0; i < 50 && !held.aborted; i++) await sleep(20);
    expect(held.aborted).toBe(true);
    await live(made.c);
    await made.c.call('echo'); // barrier: a call sent on the new session, answered
    expect(made.calls().map((f) => (f.params as Frame | null)?.key)).toEqual(['k-drop', undefined]);
    expect(backend.received.filter((r) => r.body.includes('k-drop'))).toHaveLength(1);
  });

  it('made while not live, a call waits for the session (within its timeout) and is sent once live', async () => {
    let release!: (jwt: string) => void;
    const gate = new Promise<string>((resolve) => (release = resolve));
    const made = client(() => gate);
    made.c.connect(); // connecting: the provider has not answered
    const early = made.c.call('echo', { n: 1 });
    const late = made.c.call('echo', { n: 2 }, { timeoutMs: 100 });
    expect(await rejection(late)).toMatchObject({ code: 'call_timeout', local: true });
    expect(made.calls()).toEqual([]);
    release(alice());
    await expect(early).resolves.toMatchObject({ params: { n: 1 } });
    // Waiting for a reconnect (backoff) too.
    made.c.drop();
    const during = made.c.call('echo', { n: 3 });
    expect(made.c.status.state).not.toBe('live');
    await expect(during).resolves.toMatchObject({ params: { n: 3 } });
    expect(made.calls().map((f) => (f.params as Frame).n)).toEqual([1, 3]);
  });

  it('a client stopped for good (never started, closed) rejects at once, and calls waiting reject when it closes', async () => {
    const idle = client();
    expect(await rejection(idle.c.call('echo'))).toMatchObject({ code: 'disconnected', local: true });
    const made = client(() => new Promise<string>(() => {}));
    made.c.connect();
    const waiting = made.c.call('echo');
    made.c.close();
    expect(await rejection(waiting)).toMatchObject({ code: 'disconnected', local: true });
  });

  it(`bounds the calls pending in a client (${MAX_PENDING_CALLS}): one more is refused at once`, async () => {
    const made = client(() => new Promise<string>(() => {}));
    made.c.connect();
    const waiting = Array.from({ length: MAX_PENDING_CALLS }, (_, n) => made.c.call('echo', { n }).catch((e: CallError) => e.code));
    expect(await rejection(made.c.call('echo'))).toMatchObject({ code: 'too_many_calls', local: true });
    made.c.close();
    expect(new Set(await Promise.all(waiting))).toEqual(new Set(['disconnected']));
  });

  it('params that are not JSON reject with bad_frame, and nothing is sent', async () => {
    const made = await liveClient();
    expect(await rejection(made.c.call('echo', { n: 1n }))).toMatchObject({ code: 'bad_frame', local: true });
    expect(made.calls()).toEqual([]);
  });

  it("a call's answer reaches the calling client only, not another client of the same user", async () => {
    const caller = await liveClient();
    const sibling = await liveClient();
    await caller.c.call('echo', { mine: true });
    await barrier(sibling);
    expect(sibling.log.received.filter((f) => f['@type'] === 'result' || f.id !== undefined)).toEqual([]);
    expect(sibling.pushes.items.filter((p) => (p as Frame)['@type'] === 'result')).toEqual([]);
  });
});
