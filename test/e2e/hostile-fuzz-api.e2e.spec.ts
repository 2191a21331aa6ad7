/**
 * Hostile input for calls over the socket and the server API (docs/protocol.md 9 and 10), in
 * the style of hostile-fuzz.e2e.spec.ts: a real service process takes generated `call` frames,
 * server API requests and Redis messages on the server API's channels, while a well-behaved
 * client beside them calls and must get every answer. The process must survive with bounded
 * memory and metrics. Seeded (FUZZ_SEED=<n> replays a run).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { API_KEY, Backend, Client, REDIS_URL, SECRET, testChannels, token, waitSubscribed, ws, type Frame } from '../support/harness.js';
import { CALL_SECRET, CallBackend } from '../support/call-backend.js';
import { ServiceProcess } from '../support/service-process.js';
import { FuzzGen, prng, type Vocabulary } from '../support/fuzz.js';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const BUDGET = { frames: 3000, http: 800, bus: 1000 };
const MIB = 1024 * 1024;
const ADMIN_KEY = `fuzz-admin-key-${randomBytes(4).toString('hex')}`;
const W1 = ws('w1', 'projects', 'pydiods1/projects');

/**
 * Every user the fuzz may disconnect starts with this: a disconnect revokes the user's tokens
 * in the shared Redis for a day, so the names are this run's own (deleted afterwards). For the
 * same reason `user` is not among the keys of generated values.
 */
const P = `fuzz-${randomBytes(4).toString('hex')}-`;
const KEYS = ['__proto__', 'constructor', 'prototype', '@type', 'id', 'method', 'params', 'op', 'query', 'from', 'session', 'room', 'limit', 'code', 'reason', 'at', 'part'];
/** Never alice: the well-behaved client must keep its session, whatever the fuzz asks. */
const PEOPLE = [`${P}mallory`, `${P}eve`, `${P}`, `${P} `, `${P}*`, `${P}user:alice`];

const VOCABULARY: Vocabulary = {
  keys: KEYS,
  strings: (g) => [
    () => '',
    () => 'x'.repeat(g.int(80)),
    () => '€😀\u0000\ud800\u202e<script>%00%2F..',
    () => 'y'.repeat(g.int(70_000)),
    () => g.pick(KEYS),
    () => g.pick(PEOPLE),
    () => String.fromCharCode(...Array.from({ length: g.int(30) }, () => g.int(0xffff))),
  ],
  spared: ['alice'],
  numbers: [0, -1, 1.5, 4000, 4999, 5000, 1000, 2 ** 53 + 1, 1e308, -0, Number.MAX_SAFE_INTEGER],
  depths: [33, 500, 60_000],
};

class Gen extends FuzzGen {
  constructor(rnd: () => number) {
    super(rnd, VOCABULARY);
  }

  broken(): string {
    return this.pick([() => '{"@type":"call",', () => JSON.stringify(this.value()).slice(0, -1), () => '{"id":1e999}', () => this.str(), () => '\u0000\ufeff{}'])();
  }

  /** A `call` frame, right-looking or not. */
  callFrame(): string {
    const r = this.int(100);
    if (r < 10) return this.broken();
    if (r < 15) return `{"@type":"call","id":1,"method":"echo","params":${this.deep()}}`;
    const frame: Record<string, unknown> = { '@type': 'call' };
    if (this.chance(0.9)) frame.id = this.chance(0.6) ? `f${this.int(8)}` : this.chance(0.5) ? this.num() : this.value(1);
    if (this.chance(0.95)) frame.method = this.chance(0.7) ? this.pick(['echo', 'never', 'fail', 'huge-stream', 'refuse', 'nope', 'constructor', '__proto__']) : this.value(1);
    if (this.chance(0.8)) frame.params = this.value();
    if (this.chance(0.2)) frame[this.pick(KEYS)] = this.value();
    return JSON.stringify(frame);
  }

  /** A server API request: path, query, body and key, right-looking or not. */
  httpRequest(): { method: string; path: string; body?: string; headers: Record<string, string> } {
    // Through UTF-8 and back: a lone surrogate (which encodeURIComponent refuses) becomes U+FFFD.
    const q = () => encodeURIComponent(Buffer.from(this.chance(0.5) ? this.str() : String(this.value(0))).toString()).slice(0, 9000);
    const path = this.pick([
      () => `/api/sessions?user=${q()}&limit=${q()}`,
      () => `/api/sessions?limit=${this.pick(['1', '1000', '1001', '-1', '1e3', ' 5', q()])}`,
      () => `/api/sessions?user[x]=1&user=a&user=b`,
      () => `/api/rooms/${q() || 'x'}/presence?limit=${q()}`,
      () => `/api/rooms/${this.pick(['%00', '%2F%2F', '..', '%ZZ', 'a'.repeat(3000)])}/presence`,
      () => '/api/stats',
      () => `/api/disconnect`,
      () => `/api/${q()}`,
    ])();
    const method = path === '/api/disconnect' || this.chance(0.1) ? 'POST' : 'GET';
    const headers: Record<string, string> = { 'content-type': this.pick(['application/json', 'text/plain']) };
    if (this.chance(0.9)) headers.authorization = `Bearer ${this.chance(0.85) ? ADMIN_KEY : this.pick([API_KEY, this.str()])}`.replace(/[^\x20-\x7e]/g, '');
    const body =
      method !== 'POST'
        ? undefined
        : this.pick([
            () => this.broken(),
            () => this.deep(),
            () => JSON.stringify({ [this.pick(['user', 'session'])]: this.pick([...PEOPLE, P + this.str()]), code: this.chance(0.5) ? this.num() : undefined, reason: this.chance(0.5) ? this.str() : undefined }),
            () => JSON.stringify(this.value()),
          ])();
    return { method, path, body, headers };
  }

  /** A message on the server API's request channel. */
  busRequest(): string {
    const r = this.int(100);
    if (r < 10) return this.broken();
    if (r < 13) return `{"id":"${crypto.randomUUID()}","from":"x","query":${this.deep()}}`;
    const query = this.pick([
      () => ({ op: 'sessions', user: this.chance(0.5) ? this.pick(PEOPLE) : this.value(0), limit: this.chance(0.7) ? this.int(2000) : this.value(0) }),
      () => ({ op: 'presence', room: this.chance(0.5) ? this.str() : this.value(0), limit: this.num() }),
      () => ({ op: 'disconnect', user: this.chance(0.8) ? this.pick([...PEOPLE, P + this.str()]) : this.num(), code: this.num(), reason: this.str(), at: this.num() }),
      () => ({ op: 'stats' }),
      () => this.value(),
    ])();
    const from = this.chance(0.7) ? this.pick(['fuzz-1', 'x', '../../etc', 'a b', 'é', 'z'.repeat(100)]) : this.value(0);
    return JSON.stringify({ id: this.chance(0.8) ? crypto.randomUUID() : this.value(0), from, query, [this.pick(KEYS)]: this.value(1) });
  }

  /** A message on the instance's reply channel: nobody asked for it. */
  busReply(): string {
    if (this.chance(0.2)) return this.broken();
    return JSON.stringify({ id: this.chance(0.8) ? crypto.randomUUID() : this.value(0), instance: this.pick(['fuzz-1', this.str()]), part: this.value() });
  }
}

describe('hostile input against calls and the server API', () => {
  let service: ServiceProcess;
  let backend: Backend;
  let calls: CallBackend;
  const ch = testChannels();
  const ADMIN_CHANNEL = `test.${randomBytes(4).toString('hex')}.admin`;

  beforeAll(async () => {
    backend = new Backend();
    calls = await CallBackend.start();
    service = await ServiceProcess.start(
      {
        ...ch,
        REDIS_URL,
        JWT_SECRET: SECRET,
        API_KEY,
        ADMIN_API_KEY: ADMIN_KEY,
        ADMIN_CHANNEL,
        ADMIN_TIMEOUT_MS: '300',
        CALL_ROUTES: calls.routes('echo', 'never', 'fail', 'huge-stream', 'refuse'),
        CALL_SIGNING_SECRET: CALL_SECRET,
        // Not tight: the backend lives in this (busy) process, and the good client's calls must all be answered.
        CALL_TIMEOUT_MS: '3000',
        CALL_MAX_RESPONSE_BYTES: '65536',
        CLIENT_FRAME_RATE: '100000',
        CLIENT_FRAME_BURST: '100000',
        SESSION_RATE: '100000',
        SESSION_BURST: '100000',
        SESSION_QUEUE_MAX: '100000',
      },
      { gc: true },
    );
    await waitSubscribed(backend, ADMIN_CHANNEL);
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await backend?.close();
    await calls?.close();
  });

  it(`survives generated call frames, server API requests and Redis messages; the good client gets every answer (seed ${SEED})`, async () => {
    const g = new Gen(prng(SEED));
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // mallory is among the users the fuzz disconnects (and revokes); the caller never is, so that calls keep coming.
    const mallory = token({ name: `${P}mallory`, workspaces: [ws('w9', 'nine', 'pydiods1/nine')] });
    const caller = token({ name: `${P}caller`, workspaces: [ws('w9', 'nine', 'pydiods1/nine')] });
    const alice = await Client.subscribed(`${service.wsUrl}/ws`, token({ name: 'alice', workspaces: [W1] }));
    const admin = (path: string) => fetch(`${service.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }).then((r) => r.json() as Promise<Frame>);
    const instance = ((await admin('/api/stats')).answered as string[])[0];
    await sleep(1000);
    const heapBefore = await service.metric('nodejs_heap_size_used_bytes');
    const count = { frames: 0, http: 0, bus: 0, good: 0 };
    const answered: string[] = [];
    const notAnswered: Frame[] = [];

    const frameWorker = async () => {
      while (count.frames < BUDGET.frames && service.alive) {
        const socket = new WebSocket(`${service.wsUrl}/ws`);
        socket.on('error', () => undefined);
        socket.on('message', () => undefined);
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        if (!(await new Promise<boolean>((resolve) => (socket.once('open', () => resolve(true)), socket.once('error', () => resolve(false)))))) continue;
        if (g.chance(0.8)) socket.send(JSON.stringify({ '@type': 'subscribe', jwt: g.chance(0.5) ? mallory : caller }));
        for (let i = g.int(60); i > 0 && socket.readyState === socket.OPEN && count.frames < BUDGET.frames; i--) {
          socket.send(g.callFrame());
          count.frames++;
          if (count.frames % 8 === 0) await sleep(0);
        }
        await sleep(g.int(400)); // some calls are still in flight when the socket goes
        socket.close();
        await Promise.race([closed, sleep(1000)]);
        socket.terminate();
      }
    };
    const httpWorker = async () => {
      while (count.http < BUDGET.http && service.alive) {
        count.http++;
        const { method, path, body, headers } = g.httpRequest();
        await fetch(`${service.url}${path}`, { method, headers, body }).then((res) => res.arrayBuffer(), () => undefined);
      }
    };
    const busWorker = async () => {
      while (count.bus < BUDGET.bus && service.alive) {
        count.bus++;
        if (count.bus % 200 === 0) await backend.publish(ADMIN_CHANNEL, JSON.stringify({ pad: 'p'.repeat(3 * MIB) }));
        else if (g.chance(0.6)) await backend.publish(ADMIN_CHANNEL, g.busRequest());
        else await backend.publish(`${ADMIN_CHANNEL}.reply.${instance}`, g.busReply());
        if (count.bus % 10 === 0) await sleep(1);
      }
    };
    /** The good client: a call every 50 ms, each answered with its result. */
    const goodWorker = async () => {
      while ((count.frames < BUDGET.frames || count.http < BUDGET.http || count.bus < BUDGET.bus) && service.alive) {
        const id = `good-${count.good++}`;
        alice.send({ '@type': 'call', id, method: 'echo', params: { id } });
        const answer = await alice.next((f) => f.id === id, 10_000);
        if (answer['@type'] === 'result') answered.push(id);
        else notAnswered.push(answer);
        await sleep(50);
      }
    };

    await Promise.all([frameWorker(), frameWorker(), httpWorker(), busWorker(), goodWorker()]);
    expect(service.alive ? 'alive' : `exited ${JSON.stringify(service.exit)} after ${JSON.stringify(count)}: ${service.output()}`).toBe('alive');
    expect(notAnswered).toEqual([]);
    expect(answered).toHaveLength(count.good);
    expect(count.good).toBeGreaterThan(10);
    // The server API still answers, and alice is still there.
    expect(await admin('/api/sessions?user=alice')).toMatchObject({ count: 1, partial: false });

    await sleep(1500);
    const heapAfter = await service.metric('nodejs_heap_size_used_bytes');
    const metricsText = await (await fetch(`${service.url}/metrics`)).text();
    console.log(
      `hostile API suite: seed ${SEED}, ${count.frames} call frames, ${count.http} server API requests, ${count.bus} Redis messages, ` +
        `${count.good} good calls; heap ${(heapBefore / MIB).toFixed(1)} -> ${(heapAfter / MIB).toFixed(1)} MiB, /metrics ${metricsText.length} bytes`,
    );
    const GUARDS = /frame handler failed|handler failed|call .* failed: |unhandled rejection|RangeError|answer failed/;
    expect(service.errors.filter((line) => GUARDS.test(line))).toEqual([]);
    expect(alice.socket.readyState).toBe(alice.socket.OPEN);
    expect(heapAfter - heapBefore).toBeLessThan(32 * MIB);
    // Methods come from CALL_ROUTES (and "unknown"), results from a fixed set.
    expect(metricsText).not.toMatch(/switchboard_calls_total\{method="(nope|constructor|__proto__)"/);
    expect(metricsText.length).toBeLessThan(64 * 1024);
    alice.close();
  }, 120_000);
});
