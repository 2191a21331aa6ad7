/**
 * The README's example backend for calls (examples/calls/backend.mjs), run as the README says
 * (a process of its own next to the service), called by @switchboard/client through a real
 * Switchboard: it answers who is calling from the identity token, refuses an empty note with
 * its JSON, and refuses a request whose token is missing, for another method, or replayed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { WebSocket } from 'ws';
import { CallError, Switchboard, type WebSocketConstructor } from '../../client/src/index.js';
import { CALL_SECRET, CallBackend } from '../support/call-backend.js';
import { startInstance, token, ws, type Instance } from '../support/harness.js';

describe('examples/calls/backend.mjs, called through the service', () => {
  let backend: ChildProcess;
  let routes: string;
  let app: Instance;
  let recorder: CallBackend;
  const clients: Switchboard[] = [];

  async function live(user: string): Promise<Switchboard> {
    const c = new Switchboard({ url: app.url, token: () => token({ name: user, sub: `u-${user}`, roles: ['r1'], workspaces: [ws('w1', 'projects', 'pydiods1/projects')] }), WebSocket: WebSocket as unknown as WebSocketConstructor });
    clients.push(c);
    c.connect();
    await new Promise<void>((resolve) => c.on('status', (s) => s.state === 'live' && resolve()));
    return c;
  }

  beforeAll(async () => {
    backend = spawn(process.execPath, ['examples/calls/backend.mjs'], { env: { ...process.env, CALL_SIGNING_SECRET: CALL_SECRET, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
    // It prints the CALL_ROUTES to start the service with.
    routes = await new Promise<string>((resolve, reject) => {
      let out = '';
      backend.stdout!.on('data', (d: Buffer) => {
        out += d;
        const m = /CALL_ROUTES='([^']+)'/.exec(out);
        if (m) resolve(m[1]);
      });
      backend.on('exit', (code) => reject(new Error(`the example backend exited (${code}): ${out}`)));
    });
    // A recording backend beside it, to capture one real request and replay it to the example.
    recorder = await CallBackend.start();
    app = await startInstance({ CALL_ROUTES: `${routes} echo=${recorder.url}/echo`, CALL_SIGNING_SECRET: CALL_SECRET });
  });

  afterAll(async () => {
    clients.forEach((c) => c.close());
    await app?.close();
    await recorder?.close();
    backend?.kill();
  });

  it('whoami: the identity the service signed, not anything the client says', async () => {
    const alice = await live('alice');
    const me = await alice.call<Record<string, unknown>>('whoami', { user: 'mallory' });
    expect(me).toEqual({ user: 'alice', subject: 'u-alice', profile: 'standard', roles: ['r1'], workspaces: [{ uuid: 'w1', slug: 'projects' }], session: alice.session!.sessionId });
  });

  it("notes.add: each user's own list; an empty text is call_refused with the backend's status and JSON", async () => {
    const [alice, bob] = [await live('alice'), await live('bob')];
    expect(await alice.call('notes.add', { text: 'one' })).toEqual(['one']);
    expect(await bob.call('notes.add', { text: 'mine' })).toEqual(['mine']);
    expect(await alice.call('notes.add', { text: 'two' })).toEqual(['one', 'two']);
    const refused = await alice.call('notes.add', { text: ' ' }).catch((e: CallError) => e);
    expect(refused).toMatchObject({ code: 'call_refused', status: 400, data: { reason: 'text must not be empty' } });
  });

  it('refuses a request without a token, with a token of another method, and one replayed', async () => {
    const url = /whoami=(\S+)/.exec(routes)![1];
    const body = JSON.stringify({ method: 'whoami', params: null });
    const post = (headers: Record<string, string>, payload = body) => fetch(url, { method: 'POST', headers, body: payload });
    expect((await post({})).status).toBe(401);
    // A real request of the service, captured by the recorder: its token is for `echo`.
    const alice = await live('alice');
    await alice.call('echo', { n: 1 });
    const [captured] = await recorder.arrived('echo');
    const forged = await post({ authorization: captured.authorization! }, captured.body.replace('"echo"', '"whoami"'));
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({ reason: expect.stringContaining('identity token refused') });
    // A token as the service signs one for `whoami`: accepted once.
    const jwt = await new SignJWT({ user: 'alice', profile: 'standard', roles: [], workspaces: [], sid: 's1', body_sha256: createHash('sha256').update(body).digest('hex') })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('switchboard')
      .setAudience('whoami')
      .setSubject('u-alice')
      .setJti('call-1')
      .setIssuedAt()
      .setExpirationTime('35s')
      .sign(Buffer.from(CALL_SECRET));
    expect((await post({ authorization: `Bearer ${jwt}` })).status).toBe(200);
    const replayed = await post({ authorization: `Bearer ${jwt}` });
    expect(replayed.status).toBe(401);
    expect(await replayed.json()).toEqual({ reason: 'identity token refused: replayed' });
  });
});
