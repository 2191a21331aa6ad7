/**
 * End-to-end helpers: a real Switchboard on a random loopback port, real `ws` clients,
 * tokens signed as an identity provider would, and a Redis publisher that talks exactly
 * as a backend does.
 */
import { JwtService } from '@nestjs/jwt';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { CHAT_KEY_PREFIX, REVOCATIONS_KEY, TEST_KEY_PREFIX, TEST_REDIS_URL } from './test-redis.js';

/** TEST_REDIS_URL: the one Redis of every test (see test-redis.ts). */
export const REDIS_URL = TEST_REDIS_URL;
/** The chat key prefix of every instance this file starts (unless it passes its own); deleted after the file. */
export { CHAT_KEY_PREFIX, REVOCATIONS_KEY };
export const SECRET = 'test-secret-' + randomBytes(4).toString('hex');
export const API_KEY = 'test-api-key';

/** Channel names and a history key unique to one test file, so that nothing else on the Redis interferes. */
export function testChannels(): Record<string, string> {
  const tag = randomBytes(4).toString('hex');
  const names = ['TREE', 'META', 'TASKS', 'IDM', 'ACTIVITY', 'CHAT', 'PUSH', 'PUSH_COMPAT'];
  return { ...Object.fromEntries(names.map((n) => [`CHANNEL_${n}`, `test.${tag}.${n.toLowerCase()}`])), HISTORY_KEY: `${TEST_KEY_PREFIX}${tag}.history` };
}

/** The pub/sub channels of a testChannels() result (without its history key). */
export function channelsOf(env: Record<string, string>): string[] {
  return Object.entries(env)
    .filter(([k]) => k.startsWith('CHANNEL_'))
    .map(([, v]) => v);
}

export interface Instance {
  app: NestExpressApplication;
  url: string;
  wsUrl: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startInstance(env: Record<string, string | undefined> = {}): Promise<Instance> {
  const merged: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    JWT_SECRET: SECRET,
    API_KEY,
    NODE_BATCH_WINDOW_MS: '150',
    NODE_BATCH_MAX_WAIT_MS: '400',
    CHAT_KEY_PREFIX,
    REVOCATIONS_KEY,
    ...Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
  };
  // A demo makes its own secret and key: it goes without the defaults above unless given them.
  if (env.DEMO_MODE === 'true') for (const name of ['JWT_SECRET', 'API_KEY']) if (!(name in env)) delete merged[name];
  // A variable given as undefined is unset, the defaults above included.
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete merged[name];
  const app = await startApp(loadConfig(merged));
  const address = app.getHttpServer().address() as { port: number };
  const url = `http://127.0.0.1:${address.port}`;
  return { app, url, wsUrl: `ws://127.0.0.1:${address.port}`, env: merged, close: () => app.close() };
}

const jwt = new JwtService({ secret: SECRET });

export interface TokenClaims {
  name?: string;
  sub?: string;
  profile?: string;
  roles?: string[] | string;
  workspaces?: unknown;
  [k: string]: unknown;
}

export function token(claims: TokenClaims, options: { expiresIn?: number; secret?: string } = {}): string {
  const expiry = claims.exp === undefined ? { expiresIn: options.expiresIn ?? 3600 } : {};
  return jwt.sign({ sub: claims.name ?? 'anon', ...claims }, { secret: options.secret ?? SECRET, ...expiry });
}

export const ws = (uuid: string, slug: string, ...paths: string[]) => ({ uuid, slug, label: slug, roots: paths.map((path, i) => ({ uuid: `${uuid}-root${i}`, path })) });

export type Frame = Record<string, unknown>;

/** A real WebSocket client that records every frame and how it was closed. */
export class Client {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const text = data.toString();
      let frame: Frame;
      try {
        frame = JSON.parse(text);
      } catch {
        frame = { raw: text };
      }
      this.frames.push(frame);
      this.waiters.forEach((w) => w());
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async connect(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<Client> {
    const socket = new WebSocket(url, options);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new Client(socket);
  }

  /** Connects and subscribes; resolves once the `subscribed` ack has arrived. */
  static async subscribed(url: string, jwtToken: string): Promise<Client> {
    const c = await Client.connect(url);
    c.send({ '@type': 'subscribe', jwt: jwtToken });
    await c.next((f) => f['@type'] === 'subscribed');
    return c;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame (already received or to come) that matches; fails after `timeoutMs`. */
  next(match: (f: Frame) => boolean, timeoutMs = 3000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.frames.find(match);
        if (!found) return false;
        this.waiters = this.waiters.filter((w) => w !== waiter);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const waiter = () => void check();
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames).slice(0, 500)}`));
      }, timeoutMs);
      if (!check()) this.waiters.push(waiter);
    });
  }

  /**
   * Frames that match, after waiting `ms`. Not a proof that something did NOT arrive (a slow
   * frame comes later): use a barrier instead, `framesBefore` with a sentinel sent after it.
   */
  async settled(match: (f: Frame) => boolean = () => true, ms = 300): Promise<Frame[]> {
    await sleep(ms);
    return this.frames.filter(match);
  }

  close(): void {
    this.socket.close();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Publishes like a backend: the NestJS envelope, or the bare JSON of `redis-cli PUBLISH`. */
export class Backend {
  readonly redis = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });

  publish(channel: string, data: unknown, form: 'bare' | 'envelope' = 'bare'): Promise<number> {
    const body = typeof data === 'string' ? data : JSON.stringify(form === 'envelope' ? { pattern: channel, data } : data);
    return this.redis.publish(channel, body);
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}

/** The value of one series at `url`/metrics: the line that starts with `series` (e.g. `switchboard_closes_total{code="4008"}`); 0 when absent. */
export async function metricValue(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(series));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Waits until the instance's Redis subscriptions are live (PUBSUB NUMSUB counts them). */
export async function waitSubscribed(backend: Backend, channel: string, count = 1): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const [, n] = (await backend.redis.pubsub('NUMSUB', channel)) as [string, number];
    if (Number(n) >= count) return;
    await sleep(20);
  }
  throw new Error(`nobody subscribed to ${channel}`);
}

/** Frames `c` received from index `from` on. */
export const since = (c: Client, from: number): Frame[] => c.frames.slice(from);

/** The first frame from index `from` on that matches. */
export const nextSince = (c: Client, from: number, match: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame> =>
  c.next((f) => c.frames.indexOf(f) >= from && match(f), timeoutMs);

/** Sends a frame and waits for the first matching frame that arrives after it. */
export function ask(c: Client, frame: object, match: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame> {
  const from = c.frames.length;
  c.send(frame);
  return nextSince(c, from, match, timeoutMs);
}

/**
 * A frame the session answers at once, after every frame it was sent before (frames are
 * handled in order): resolves when those are done. Not a barrier for events, which are paced.
 */
export const marker = (c: Client): Promise<Frame> => ask(c, { marker: true }, (f) => f['@type'] === 'error' && f.error === 'frame has no @type');

/**
 * A barrier: waits for the sentinel (the first frame from index `from` on that matches) and
 * returns the frames received from `from` up to it. Delivery is ordered per session, so what
 * was sent to the session before the sentinel and is not in the list never arrived.
 */
export async function framesBefore(c: Client, from: number, sentinel: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame[]> {
  const s = await nextSince(c, from, sentinel, timeoutMs);
  return c.frames.slice(from, c.frames.indexOf(s));
}
