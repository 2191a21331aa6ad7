/**
 * One server under test, in its own process: `node [--expose-gc] server.mjs <kind>`, with
 * its options as JSON in BENCH_SERVER_OPTS. Sends `{type:'ready', port}` once listening,
 * then answers `heap` (after forced gc, when --expose-gc is on), `cpu` and `exit`.
 *
 * kinds:
 *   ws           bare `ws` WebSocketServer; acks any frame with `{"@type":"subscribed"}` and keeps nothing
 *   ws-redis     the same, subscribed to one Redis channel, sending each message as-is to every client
 *   switchboard  the built service (../../dist), configured from opts.env
 *   baseline     the same from another build (opts.dist, e.g. a copy of dist/ built before a change)
 *   nest-ws      stock @nestjs/platform-ws WsAdapter with one trivial @WebSocketGateway at /ws
 *   floor        bare `ws` doing Switchboard's job with nothing else (see floor.mjs)
 *   socketio     Socket.IO 4.8 with @socket.io/redis-adapter doing the same job (see socketio.mjs)
 *
 * Also answers `profStart` / `profStop {file}`: a V8 CPU profile of just the measured part
 * (node:inspector), written as a .cpuprofile file.
 */
import { once } from 'node:events';
import process from 'node:process';
import { setImmediate, setTimeout } from 'node:timers';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Session } from 'node:inspector/promises';
import { serve } from './common.mjs';

const kind = process.argv[2];
const opts = JSON.parse(process.env.BENCH_SERVER_OPTS ?? '{}');
const ACK = JSON.stringify({ '@type': 'subscribed' });

async function bareWs() {
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (socket) => {
    socket.on('message', () => socket.send(ACK));
    socket.on('error', () => undefined);
  });
  await once(wss, 'listening');
  return { wss, port: wss.address().port, close: () => new Promise((r) => wss.close(r)) };
}

async function wsRedis() {
  const { Redis } = await import('ioredis');
  const server = await bareWs();
  const sub = new Redis(opts.redisUrl ?? 'redis://127.0.0.1:6379');
  // No filtering, no parsing: the received string goes to every client, as-is.
  sub.on('message', (_channel, message) => {
    for (const client of server.wss.clients) client.send(message);
  });
  await sub.subscribe(opts.channel);
  return { port: server.port, close: async () => (await sub.quit(), await server.close()) };
}

async function switchboard(dist = new URL('../../dist/', import.meta.url).href) {
  const { startApp } = await import(new URL('app.js', dist).href);
  const { loadConfig } = await import(new URL('config/config.js', dist).href);
  const app = await startApp(loadConfig(opts.env));
  return { port: app.getHttpServer().address().port, close: () => app.close() };
}

/** Decorators applied by hand: plain ESM has no decorator syntax. */
async function nestWs() {
  await import('reflect-metadata');
  const { Module } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const { SubscribeMessage, WebSocketGateway } = await import('@nestjs/websockets');
  const { WsAdapter } = await import('@nestjs/platform-ws');

  class Gateway {
    subscribe() {
      return { event: 'subscribed', data: {} };
    }
  }
  SubscribeMessage('subscribe')(Gateway.prototype, 'subscribe', Object.getOwnPropertyDescriptor(Gateway.prototype, 'subscribe'));
  WebSocketGateway({ path: '/ws' })(Gateway);
  class AppModule {}
  Module({ providers: [Gateway] })(AppModule);

  const app = await NestFactory.create(AppModule, { logger: false });
  app.useWebSocketAdapter(new WsAdapter(app));
  await app.listen(0, '127.0.0.1');
  return { port: app.getHttpServer().address().port, close: () => app.close() };
}

const floor = async () => (await import('./floor.mjs')).startFloor(opts);
const socketio = async () => (await import('./socketio.mjs')).startSocketIo(opts);

const baseline = () => switchboard(pathToFileURL(`${opts.dist}/`).href);
const starters = { ws: bareWs, 'ws-redis': wsRedis, switchboard, baseline, 'nest-ws': nestWs, floor, socketio };
if (!starters[kind]) throw new Error(`unknown server kind ${kind}`);
const server = await starters[kind]();

async function collect() {
  if (typeof globalThis.gc !== 'function') return;
  // Several passes: weak maps and finalizers can free more on a second and third pass.
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((r) => setImmediate(r));
  }
}

let profiler;

serve({
  async profStart() {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
    await profiler.post('Profiler.start');
    return true;
  },
  async profStop({ file }) {
    const { profile } = await profiler.post('Profiler.stop');
    profiler.disconnect();
    writeFileSync(file, JSON.stringify(profile));
    return { file, samples: profile.samples.length };
  },
  /** CPU time of this process so far (µs): the bench takes deltas around its events. */
  cpu: () => process.cpuUsage(),
  heap: async () => {
    await collect();
    const m = process.memoryUsage();
    return { heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers, gc: typeof globalThis.gc === 'function' };
  },
  exit: async () => {
    // Bounded: a close that hangs must not keep the bench waiting.
    await Promise.race([server.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
  },
});
process.send({ type: 'ready', port: server.port });
