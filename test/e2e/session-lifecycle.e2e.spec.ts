/**
 * A session's life on `/ws` where one line of src/ decides it: the grace after the token's
 * `exp`, a slower older verification against a newer subscribe, and the liveness check.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Backend, Client, REDIS_URL, framesBefore, nextSince, sleep, startInstance, testChannels, token, waitSubscribed, type Frame, type Instance } from '../support/harness.js';

const tag = randomBytes(4).toString('hex');
const GRACE_SECONDS = 3;
const PING_INTERVAL_MS = 100;
const PONG_TIMEOUT_MS = 100;

describe('session life on /ws', () => {
  const ch = testChannels();
  let app: Instance;
  let backend: Backend;
  let resolver: Server;
  const clients: Client[] = [];
  /** Tokens whose workspaces the resolver holds back, and how to let each go. */
  const held = new Map<string, () => void>();
  const heldArrived = new Map<string, () => void>();

  const userOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as { name: string }).name;
  const push = (user: string, payload: object) => backend.publish(ch.CHANNEL_PUSH, { pushToUser: user, payload });
  const track = (c: Client) => (clients.push(c), c);

  beforeAll(async () => {
    // WORKSPACES_URL: answers [] at once, or, for a user named `slow-*`, when the test says so.
    resolver = createServer((req, res) => {
      const jwt = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const answer = () => void res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
      if (!userOf(jwt).startsWith('slow-')) return answer();
      held.set(userOf(jwt), answer);
      heldArrived.get(userOf(jwt))?.();
    });
    await new Promise<void>((resolve) => resolver.listen(0, '127.0.0.1', resolve));
    backend = new Backend();
    app = await startInstance({
      ...ch,
      REDIS_URL,
      WORKSPACES_URL: `http://127.0.0.1:${(resolver.address() as { port: number }).port}/workspaces`,
      TOKEN_EXPIRY_GRACE_SECONDS: String(GRACE_SECONDS),
      PING_INTERVAL_MS: String(PING_INTERVAL_MS),
      PONG_TIMEOUT_MS: String(PONG_TIMEOUT_MS),
    });
    await waitSubscribed(backend, ch.CHANNEL_PUSH);
  });

  afterEach(() => clients.splice(0).forEach((c) => c.close()));

  afterAll(async () => {
    await app?.close();
    await backend?.close();
    await new Promise((resolve) => resolver?.close(resolve));
  });

  it(`serves a session through the grace after exp, then closes it 4401 at exp + ${GRACE_SECONDS} s`, async () => {
    const user = `grace-${tag}`;
    const c = track(await Client.subscribed(`${app.wsUrl}/ws`, token({ name: user }, { expiresIn: 1 })));
    const exp = c.frames[0].expiresAt as number;
    let closedAt = 0;
    void c.closed.then(() => (closedAt = Date.now()));
    // Time itself is tested: wait until exp is past, then the session must still be served.
    await sleep(exp * 1000 + 100 - Date.now());
    await push(user, { inGrace: tag });
    await c.next((f) => f.inGrace === tag);
    expect(await c.closed).toEqual({ code: 4401, reason: 'token expired' });
    expect(c.frames).toContainEqual({ '@type': 'error', error: 'token expired', code: 'token_expired' });
    expect(closedAt).toBeGreaterThanOrEqual((exp + GRACE_SECONDS) * 1000 - 50);
  }, 10_000);

  it('sends expiring at once, after the ack, to a session subscribing with less than TOKEN_RENEW_BEFORE_SECONDS (60) left, once per token', async () => {
    const user = `late-${tag}`;
    const now = Math.floor(Date.now() / 1000);
    // Issued an hour ago with 30 s left: its expiring frame was due 30 s before the subscribe.
    const jwt = token({ name: user, iat: now - 3600, exp: now + 30 });
    const c = track(await Client.subscribed(`${app.wsUrl}/ws`, jwt));
    const expiring = await c.next((f) => f['@type'] === 'expiring');
    expect(expiring).toEqual({ '@type': 'expiring', expiresAt: now + 30 });
    expect(c.frames.findIndex((f) => f['@type'] === 'subscribed')).toBeLessThan(c.frames.indexOf(expiring));

    // The same token again: not told twice (a client re-sending it would be prompted in a loop).
    // Barrier: a push that the re-subscribed session receives after its ack.
    let from = c.frames.length;
    c.send({ '@type': 'subscribe', jwt });
    await nextSince(c, from, (f) => f['@type'] === 'subscribed');
    await push(user, { after: tag });
    expect((await framesBefore(c, from, (f) => f.after === tag)).filter((f) => f['@type'] === 'expiring')).toEqual([]);

    // A fresh token that is short too: told again, about it.
    from = c.frames.length;
    c.send({ '@type': 'subscribe', jwt: token({ name: user, iat: now - 3600, exp: now + 20 }) });
    expect(await nextSince(c, from, (f) => f['@type'] === 'expiring')).toEqual({ '@type': 'expiring', expiresAt: now + 20 });
  });

  it('keeps the newer identity when an older, slower verification finishes first in line', async () => {
    const older = `slow-${tag}`;
    const newer = `fast-${tag}`;
    const c = track(await Client.connect(`${app.wsUrl}/ws`));
    const arrived = new Promise<void>((resolve) => heldArrived.set(older, resolve));
    c.send({ '@type': 'subscribe', jwt: token({ name: older }) });
    await arrived; // the older subscribe is verifying: the resolver holds its answer
    c.send({ '@type': 'subscribe', jwt: token({ name: newer }) });
    held.get(older)!();
    await c.next((f) => f['@type'] === 'subscribed' && f.user === newer);
    expect(c.frames.filter((f) => f['@type'] === 'subscribed').map((f) => f.user)).toEqual([older, newer]);

    // Barrier: a push to the newer user comes after any push to the older one would have.
    const from = c.frames.length;
    await push(older, { to: older });
    await push(newer, { to: newer });
    expect(await framesBefore(c, from, (f) => f.to === newer)).toEqual([]);
  });

  it(`cuts a socket that stops answering pings after PING_INTERVAL_MS + PONG_TIMEOUT_MS, and keeps one that answers`, async () => {
    const dead = track(await Client.connect(`${app.wsUrl}/ws`, { autoPong: false }));
    dead.send({ '@type': 'subscribe', jwt: token({ name: `dead-${tag}` }) });
    await dead.next((f) => f['@type'] === 'subscribed');
    const alive = track(await Client.subscribed(`${app.wsUrl}/ws`, token({ name: `alive-${tag}` })));
    // Time itself is tested: a deadline well past one ping round (100 + 100 ms).
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise((resolve) => (timer = setTimeout(() => resolve('still open'), 20 * (PING_INTERVAL_MS + PONG_TIMEOUT_MS))));
    expect(await Promise.race([dead.closed, deadline]).finally(() => clearTimeout(timer))).toEqual({ code: 1006, reason: '' });
    // The live one went through the same rounds and is still served.
    await push(`alive-${tag}`, { alive: tag });
    await alive.next((f: Frame) => f.alive === tag);
    expect(alive.socket.readyState).toBe(alive.socket.OPEN);
  });
});
