/**
 * Regression tests for issue 8's edge items: each one is the attack that crashed, leaked or
 * hung the service, played against a real instance over loopback, with a real Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { JwtService } from '@nestjs/jwt';
import { connect, type Socket } from 'node:net';
import { API_KEY, Backend, Client, REDIS_URL, SECRET, marker, sleep, startInstance, testChannels, token, waitSubscribed, ws, type Instance } from '../support/harness.js';

const W1 = ws('w1', 'projects', 'pydiods1/projects');
const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
/** A tree CREATE whose Target holds a value nested `depth` deep (raw JSON: no stack needed to build it). */
const deepCreate = (uuid: string, depth: number) =>
  `{"Type":"CREATE","Target":{"Uuid":"${uuid}","Path":"pydiods1/projects/${uuid}","Type":"LEAF","MetaStore":{"x":"1"},"Nested":${deep(depth)}}}`;

/** One raw HTTP exchange: writes `request`, resolves with everything the server sent until it closed. */
function rawHttp(port: number, request: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    socket.on('data', (d) => (got += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.write(request);
  });
}

const upgrade = (path: string, headers: Record<string, string> = {}) =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;

const metrics = async (app: Instance) => (await fetch(`${app.url}/metrics`)).text();
const post = (app: Instance, body: string, key = API_KEY) =>
  fetch(`${app.url}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body });
const portOf = (app: Instance) => Number(new URL(app.url).port);

describe('hostile input at the edge (Redis mode)', () => {
  let app: Instance;
  let backend: Backend;
  let ch: Record<string, string>;
  let alice: Client;

  beforeAll(async () => {
    ch = testChannels();
    backend = new Backend();
    app = await startInstance({ ...ch, REDIS_URL, MAX_EVENT_BYTES: '65536' });
    await waitSubscribed(backend, ch.CHANNEL_TREE);
    alice = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'alice', workspaces: [W1] }));
  });

  afterAll(async () => {
    alice?.close();
    await app?.close();
    await backend?.close();
  });

  it.each(['//', '//[', '//a:99999/ws', '//ws'])('answers an upgrade for %s with 404 and stays up (item 1)', async (path) => {
    expect(await rawHttp(portOf(app), upgrade(path))).toMatch(/^HTTP\/1\.1 404 /);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  it('answers an upgrade whose target is not a path with 400', async () => {
    expect(await rawHttp(portOf(app), upgrade('http://localhost/ws'))).toMatch(/^HTTP\/1\.1 400 /);
    expect(await metrics(app)).toMatch(/switchboard_upgrades_refused_total\{reason="bad_request"\} 1/);
  });

  it.each([
    ['bare', 1],
    ['envelope', 2],
  ] as const)('refuses and counts a tree CREATE nested 6,000 deep (%s), and keeps delivering (item 2)', async (form, count) => {
    const uuid = `deep-${form}`;
    const raw = form === 'bare' ? deepCreate(uuid, 6000) : `{"pattern":"${ch.CHANNEL_TREE}","data":${deepCreate(uuid, 6000)}}`;
    await backend.publish(ch.CHANNEL_TREE, raw);
    // Later than the batch window (150 ms): the flush that used to overflow the stack has run.
    await sleep(400);
    const sentinel = `after-${form}`;
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: sentinel, Path: 'pydiods1/projects/s' } });
    await alice.next((f) => (f.Source as { Uuid?: string })?.Uuid === sentinel);
    expect(alice.frames.filter((f) => (f.Target as { Uuid?: string })?.Uuid === uuid)).toEqual([]);
    // Refused on arrival, not crashed on later (a throw in a timer is not seen by this test).
    expect(await metrics(app)).toContain(`switchboard_bus_rejected_total{topic="tree",reason="too_deep"} ${count}`);
  });

  it('counts each refusal reason with a fixed label, and delivers what is within the bounds', async () => {
    await backend.publish(ch.CHANNEL_META, JSON.stringify({ Type: 'DELETE', Source: { Uuid: 'big', Path: 'pydiods1/projects/big', Blob: 'x'.repeat(70_000) } }));
    await backend.publish(ch.CHANNEL_TREE, deepCreate('at-the-bound', 30)); // 32 levels in all
    await alice.next((f) => (f.Target as { Uuid?: string })?.Uuid === 'at-the-bound');
    const text = await metrics(app);
    expect(text).toMatch(/switchboard_bus_rejected_total\{topic="tree",reason="too_deep"\} 2\n/);
    expect(text).toMatch(/switchboard_bus_rejected_total\{topic="meta",reason="too_large"\} 1/);
  });

  it('answers 400 to a publish body nested too deep (items 2 and 12), 413 to an event too large for the bus', async () => {
    const res = await post(app, `{"channel":"${ch.CHANNEL_TREE}","data":${deepCreate('http-deep', 6000)}}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ statusCode: 400, message: 'JSON nested deeper than 32 levels' });
    const big = await post(app, JSON.stringify({ channel: ch.CHANNEL_TASKS, data: { TaskUpdated: { ID: 'x'.repeat(70_000) } } }));
    expect(big.status).toBe(413);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  it('keeps an invented 130-character alg out of the metrics, and still closes 4401 with a reason that fits (item 4)', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    for (let i = 0; i < 5; i++) {
      const alg = `${i}`.padEnd(130, 'A');
      const c = await Client.connect(`${app.wsUrl}/ws`);
      c.send({ '@type': 'subscribe', jwt: `${b64({ alg, typ: 'JWT' })}.${b64({ name: 'eve' })}.sig` });
      expect(await c.closed).toEqual({ code: 4401, reason: 'algorithm not accepted: unknown' });
      expect(c.frames).toEqual([{ '@type': 'error', error: 'algorithm not accepted: unknown', code: 'unauthenticated' }]);
    }
    const text = await metrics(app);
    expect(text).not.toContain('AAAA');
    expect(text).toMatch(/switchboard_subscribes_total\{endpoint="events",result="algorithm"\} 5/);
  });

  it('refuses a token without exp with 4401 "token has no expiry"', async () => {
    const forever = new JwtService({ secret: SECRET }).sign({ name: 'alice', sub: 'alice' });
    const c = await Client.connect(`${app.wsUrl}/chat`);
    c.send({ '@type': 'subscribe', jwt: forever });
    expect(await c.closed).toEqual({ code: 4401, reason: 'token has no expiry' });
    expect(c.frames).toEqual([{ '@type': 'error', error: 'token has no expiry', code: 'unauthenticated' }]);
  });

  it.each(['/api/publish', '/API/Publish', '/api/publish/', '/api/publish?x=1'])('answers a publish to %s with a wrong key at once, without waiting for a body sent one byte at a time (item 11)', async (path) => {
    const started = Date.now();
    const socket: Socket = connect(portOf(app), '127.0.0.1');
    let got = '';
    socket.on('data', (d) => (got += d.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
    const drip = setInterval(() => socket.writable && socket.write(' '), 200);
    await closed;
    clearInterval(drip);
    expect(got).toMatch(/^HTTP\/1\.1 401 /);
    expect(got).toContain('missing or wrong API key');
    expect(Date.now() - started).toBeLessThan(1500);
  });

});

describe('HTTP timeouts (item 11)', () => {
  let app: Instance;
  beforeAll(async () => {
    app = await startInstance({ HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '1000' });
  });
  afterAll(() => app?.close());

  /** Starts `head`, then sends one more byte every 200 ms; resolves with the answer once the server closes. */
  function drip(head: string): Promise<{ answer: string; ms: number }> {
    const started = Date.now();
    const socket: Socket = connect(portOf(app), '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('error', () => undefined);
    socket.write(head);
    const timer = setInterval(() => socket.writable && socket.write(' '), 200);
    return new Promise((resolve) =>
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ answer, ms: Date.now() - started });
      }),
    );
  }

  it('cuts a request whose body, with the right key, comes one byte at a time', async () => {
    const { answer, ms } = await drip(`POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(ms).toBeLessThan(3000);
  });

  it('cuts a request whose headers never end', async () => {
    const { answer, ms } = await drip('POST /api/publish HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(ms).toBeLessThan(3000);
  });
});

describe('deep bodies without Redis (embedded mode)', () => {
  let app: Instance;
  beforeAll(async () => {
    app = await startInstance({ REDIS_URL: undefined });
  });
  afterAll(() => app?.close());

  it('answers 400 to a publish body nested 6,000 deep, and stays up (items 2 and 12)', async () => {
    const c = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'alice', workspaces: [W1] }));
    const res = await post(app, `{"channel":"topic.pydio.tree.nodes.changes","data":${deepCreate('embedded-deep', 6000)}}`);
    expect(res.status).toBe(400);
    const ok = await post(app, JSON.stringify({ channel: 'topic.pydio.tree.nodes.changes', data: { Type: 'DELETE', Source: { Uuid: 'ok', Path: 'pydiods1/projects/ok' } } }));
    expect(ok.status).toBe(202);
    await c.next((f) => (f.Source as { Uuid?: string })?.Uuid === 'ok');
    c.close();
  });
});

describe('admission control (item 8)', () => {
  let app: Instance;
  beforeAll(async () => {
    app = await startInstance({
      SUBSCRIBE_TIMEOUT_MS: '300',
      MAX_CONNECTIONS: '4',
      MAX_CONNECTIONS_PER_ADDRESS: '3',
      MAX_SESSIONS_PER_USER: '2',
      ALLOWED_ORIGINS: 'https://app.example.com',
    });
  });
  afterAll(() => app?.close());

  it('closes 4401 a connection that does not subscribe in time, or unsubscribed and did not subscribe again; not one that did', async () => {
    const idle = await Client.connect(`${app.wsUrl}/ws`);
    const good = await Client.subscribed(`${app.wsUrl}/chat`, token({ name: 'alice' }));
    const left = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'dave' }));
    left.send({ '@type': 'unsubscribe' });
    expect(await idle.closed).toEqual({ code: 4401, reason: 'no subscribe in time' });
    expect(idle.frames).toEqual([{ '@type': 'error', error: 'no subscribe in time', code: 'no_subscribe' }]);
    expect(await left.closed).toEqual({ code: 4401, reason: 'no subscribe in time' });
    await sleep(300); // time itself is tested: past good's own deadline (it connected just after idle)
    expect(good.socket.readyState).toBe(good.socket.OPEN);
    await marker(good); // and still served
    good.close();
    await good.closed;
  });

  it('refuses past the per-address limit with 429 and past the total with 503, counted; a closed connection frees its place', async () => {
    const mine = await Promise.all([1, 2, 3].map((i) => Client.subscribed(`${app.wsUrl}/ws`, token({ name: `u${i}` }))));
    await expect(Client.connect(`${app.wsUrl}/ws`)).rejects.toThrow(/429/);
    // Another loopback address still gets in, up to the total of 4.
    const other = await Client.connect(`${app.wsUrl}/chat`, { localAddress: '127.0.0.2' });
    await expect(Client.connect(`${app.wsUrl}/chat`, { localAddress: '127.0.0.3' })).rejects.toThrow(/503/);
    const text = await metrics(app);
    expect(text).toMatch(/switchboard_upgrades_refused_total\{reason="per_address"\} 1/);
    expect(text).toMatch(/switchboard_upgrades_refused_total\{reason="total"\} 1/);
    mine[0].close();
    await mine[0].closed;
    // The server frees the place when it sees the close: wait for its connection count to drop.
    while (!(await metrics(app)).includes('switchboard_connections{endpoint="events"} 2')) await sleep(20);
    const again = await Client.connect(`${app.wsUrl}/ws`);
    for (const c of [...mine, other, again]) c.close();
    await Promise.all([...mine, other, again].map((c) => c.closed));
  });

  it('refuses a third session of one user with an error frame and close 4429; a token refresh and other users pass', async () => {
    const a1 = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'carol' }));
    const a2 = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'carol' }));
    const a3 = await Client.connect(`${app.wsUrl}/ws`);
    a3.send({ '@type': 'subscribe', jwt: token({ name: 'carol' }) });
    expect(await a3.closed).toEqual({ code: 4429, reason: 'too many sessions' });
    expect(a3.frames).toEqual([{ '@type': 'error', error: 'too many sessions for this user (2)', code: 'too_many_sessions' }]);
    a2.send({ '@type': 'subscribe', jwt: token({ name: 'carol' }, { expiresIn: 7200 }) });
    await a2.next((f) => f['@type'] === 'subscribed' && f !== a2.frames[0]);
    expect(await metrics(app)).toMatch(/switchboard_subscribes_total\{endpoint="events",result="too_many_sessions"\} 1/);
    for (const c of [a1, a2]) c.close();
    await Promise.all([a1, a2].map((c) => c.closed));
  });

  it('refuses a browser Origin outside ALLOWED_ORIGINS with 403; an allowed one and none pass', async () => {
    await expect(Client.connect(`${app.wsUrl}/ws`, { origin: 'https://evil.example.com' })).rejects.toThrow(/403/);
    const allowed = await Client.connect(`${app.wsUrl}/ws`, { origin: 'https://app.example.com' });
    const none = await Client.connect(`${app.wsUrl}/ws`);
    for (const c of [allowed, none]) c.close();
    await Promise.all([allowed, none].map((c) => c.closed));
    expect(await metrics(app)).toMatch(/switchboard_upgrades_refused_total\{reason="origin"\} 1/);
  });
});
