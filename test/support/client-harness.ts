/**
 * Helpers for testing @switchboard/client against a real Switchboard: a `ws` WebSocket that
 * records what the client sends, and a recorder that waits for the client's callbacks.
 */
import { get } from 'node:http';
import { WebSocket } from 'ws';
import type { WebSocketConstructor } from '../../client/src/index.js';
import { startInstance, type Instance } from './harness.js';

/** Node 20 has no global WebSocket: the client takes `ws`'s, which speaks the same WHATWG API. */
export class RecordingWebSocket extends WebSocket {
  static sent: Array<Record<string, unknown>> = [];
  static opened: string[] = [];

  constructor(url: string) {
    super(url);
    RecordingWebSocket.opened.push(url);
  }

  override send(data: string): void {
    RecordingWebSocket.sent.push(JSON.parse(data));
    super.send(data);
  }

  static reset(): void {
    RecordingWebSocket.sent = [];
    RecordingWebSocket.opened = [];
  }
}
export const RecordingSocket = RecordingWebSocket as unknown as WebSocketConstructor;

/** Everything a callback received, in order, with a way to wait for the next match. */
export class Recorder<T> {
  readonly items: T[] = [];
  private waiters: Array<() => void> = [];

  readonly push = (item: T): void => {
    this.items.push(item);
    this.waiters.forEach((w) => w());
  };

  next(match: (item: T) => boolean = () => true, timeoutMs = 5000, from = 0): Promise<T> {
    return new Promise((resolve, reject) => {
      const find = () => this.items.slice(from).find(match);
      const waiter = () => {
        const found = find();
        if (found === undefined) return;
        this.waiters = this.waiters.filter((w) => w !== waiter);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no match within ${timeoutMs} ms; got ${JSON.stringify(this.items).slice(-600)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
      waiter();
    });
  }

  /** Waits for the next match that comes after what is recorded now. */
  nextNew(match: (item: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
    return this.next(match, timeoutMs, this.items.length);
  }
}

/** Stops an instance and starts another on the same port with the same settings (a restart). */
export async function restart(instance: Instance, whileDown: () => Promise<unknown> = async () => {}): Promise<Instance> {
  const port = new URL(instance.url).port;
  await instance.close();
  await whileDown();
  // Its own variables, not the harness's defaults it went without.
  return startInstance({ JWT_SECRET: undefined, API_KEY: undefined, ...instance.env, PORT: port });
}

/**
 * The publish key a demo instance hands out (`/demo/api/session`). On a connection of its own:
 * after a restart on the same port, a kept-alive connection of fetch's pool may still be the
 * old server's.
 */
export function demoKey(instance: Instance): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`${instance.url}/demo/api/session?user=alice`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve((JSON.parse(body) as { apiKey: string }).apiKey) : reject(new Error(`/demo/api/session: ${res.statusCode}`))));
    }).on('error', reject);
  });
}
