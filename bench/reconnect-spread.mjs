// The reconnect storm of a rolling restart: N clients (@switchboard/client, built) connected to
// instance A through a small TCP front (a stand-in for the Service), B started, the front
// switched to B, A stopped (SIGTERM: close 1001). Measures when each client is live again on B:
// first-to-last spread, the busiest second, and percentiles; with the server's retry hint
// (SHUTDOWN_RECONNECT_WINDOW_MS, default 10 s) and without (window 0: no hint, the client's own
// full-jitter backoff), interleaved, `--reps` times each.
//   npm run build && npm run build:client && node bench/reconnect-spread.mjs --clients 1000 --window 10000 --reps 2
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createServer, connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { JwtService } from '@nestjs/jwt';
import { WebSocket } from 'ws';
import { Switchboard } from '../client/dist/index.js';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const CLIENTS = Number(arg('clients', 1000));
const WINDOW = Number(arg('window', 10_000));
const REPS = Number(arg('reps', 2));
const SECRET = `bench-${randomBytes(8).toString('hex')}`;
const jwt = new JwtService({ secret: SECRET });
const log = (...a) => console.error(...a);

function startServer() {
  return (windowMs) =>
    new Promise((resolve, reject) => {
      const env = { ...process.env, HOST: '127.0.0.1', PORT: '0', JWT_SECRET: SECRET, LOG_LEVEL: 'warn', MAX_CONNECTIONS_PER_ADDRESS: '0', MAX_CONNECTIONS: '100000', SHUTDOWN_RECONNECT_WINDOW_MS: String(windowMs), SHUTDOWN_GRACE_MS: '20000' };
      delete env.REDIS_URL;
      const child = spawn(process.execPath, ['-e', `import('./dist/app.js').then(async ({ startApp }) => { const { loadConfig } = await import('./dist/config/config.js'); const app = await startApp(loadConfig(process.env)); process.send({ port: app.getHttpServer().address().port }); process.on('SIGTERM', async () => { await app.close(); process.exit(0); }); })`], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const exited = once(child, 'exit');
      child.once('message', (m) => resolve({ child, port: m.port, exited }));
      child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
}
const server = startServer();

/** The front: new TCP connections go to `target.port`. */
async function front(target) {
  const srv = createServer((socket) => {
    const upstream = connect(target.port, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    const end = () => (socket.destroy(), upstream.destroy());
    socket.on('error', end);
    upstream.on('error', end);
    socket.on('close', end);
    upstream.on('close', end);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return srv;
}

async function run(windowMs) {
  const a = await server(windowMs);
  const target = { port: a.port };
  const fr = await front(target);
  const url = `ws://127.0.0.1:${fr.address().port}`;
  const clients = [];
  const back = new Array(CLIENTS).fill(undefined);
  let stoppedAt = 0;
  let live = 0;
  const allLive = new Promise((resolve) => {
    for (let i = 0; i < CLIENTS; i++) {
      const token = jwt.sign({ sub: `u${i}`, name: `u${i}` }, { expiresIn: 3600 });
      const c = new Switchboard({ url, token: () => token, WebSocket, autoConnect: true, heartbeat: false });
      let first = true;
      c.on('status', (s) => {
        if (s.state !== 'live') return;
        if (first) {
          first = false;
          if (++live === CLIENTS) resolve();
        } else if (stoppedAt && back[i] === undefined) back[i] = performance.now() - stoppedAt;
      });
      clients.push(c);
    }
  });
  await allLive;
  const b = await server(windowMs);
  target.port = b.port; // the Service now sends new connections to B
  stoppedAt = performance.now();
  a.child.kill('SIGTERM');
  const deadline = Date.now() + windowMs + 60_000;
  while (back.some((t) => t === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const times = back.filter((t) => t !== undefined).sort((x, y) => x - y);
  const perSecond = new Map();
  for (const t of times) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  for (const c of clients) c.close();
  fr.close();
  b.child.kill('SIGTERM');
  await Promise.all([a.exited, b.exited]);
  return { back: times.length, first: times[0], last: times.at(-1), spread: times.at(-1) - times[0], p50: q(0.5), p90: q(0.9), busiestSecond: Math.max(...perSecond.values()) };
}

const rows = [];
for (let rep = 0; rep < REPS; rep++) {
  for (const windowMs of [WINDOW, 0]) {
    log(`rep ${rep + 1}: window ${windowMs} ms`);
    rows.push({ hint: windowMs ? `retry hint, window ${windowMs} ms` : 'no hint (client full jitter only)', ...(await run(windowMs)) });
    log(JSON.stringify(rows.at(-1)));
  }
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
console.log(`# Reconnect spread of ${CLIENTS} clients after a rolling restart (${new Date().toISOString()}, node ${process.version})\n`);
console.log('| server | clients back | first (ms) | last (ms) | first-to-last (ms) | p50 (ms) | p90 (ms) | busiest second (reconnects) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.hint} | ${r.back} | ${r.first.toFixed(0)} | ${r.last.toFixed(0)} | ${r.spread.toFixed(0)} | ${r.p50.toFixed(0)} | ${r.p90.toFixed(0)} | ${r.busiestSecond} |`);
const withHint = rows.filter((r) => r.hint.startsWith('retry'));
const without = rows.filter((r) => !r.hint.startsWith('retry'));
console.log(`\nMedians: busiest second ${median(withHint.map((r) => r.busiestSecond))} with the hint vs ${median(without.map((r) => r.busiestSecond))} without (ratio ${(median(without.map((r) => r.busiestSecond)) / median(withHint.map((r) => r.busiestSecond))).toFixed(1)}x); first-to-last ${median(withHint.map((r) => r.spread)).toFixed(0)} ms vs ${median(without.map((r) => r.spread)).toFixed(0)} ms.`);
process.exit(0);
