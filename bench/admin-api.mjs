/**
 * The server API's answer time (docs/protocol.md 10) with `sessions` subscribed sessions over
 * two instances on one Redis: every answer is gathered from both (the asked one answers
 * itself, the other over the server API's Redis request and reply channels). Each session is
 * one of `users` users (`sessions / users` sessions each, spread over both instances) and
 * joins one of `rooms` push rooms. Measured from this process, one request at a time,
 * alternating between the instances, `requests` per route after `warmup`: p50 and p99. The
 * baseline, in the same run: `GET /healthz` of the same instances (HTTP alone).
 *
 *   npm run build && node bench/admin-api.mjs [--sessions 10000] [--users 1000] [--rooms 10] [--requests 200] [--warmup 20] [--redis redis://127.0.0.1:6379]
 */
import { JwtService } from '@nestjs/jwt';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import process from 'node:process';
import { Redis } from 'ioredis';
import { Background } from './lib/background.mjs';
import { Child, args, benchChannels, benchKeys, deleteBenchKeys, machine, percentile, printMachine, serviceEnv, sleep } from './lib/common.mjs';

const opt = args({ sessions: 10_000, users: 1000, rooms: 10, requests: 200, warmup: 20, redis: 'redis://127.0.0.1:6379' });
const SECRET = 'bench-' + randomBytes(8).toString('hex');
const ADMIN_KEY = 'bench-admin-' + randomBytes(8).toString('hex');
const m = machine();
const { tag, env: channels } = benchChannels();

async function startServer(port) {
  const env = serviceEnv(SECRET, {
    ...channels,
    PORT: String(port),
    REDIS_URL: opt.redis,
    ...benchKeys(tag),
    ADMIN_API_KEY: ADMIN_KEY,
    ADMIN_CHANNEL: `bench.${tag}.admin`,
    PUSH_OPEN_ROOMS: 'lobby-*',
    SUBSCRIBE_TIMEOUT_MS: '600000',
  });
  const proc = spawn(process.execPath, ['dist/main.js'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  process.on('exit', () => proc.kill('SIGKILL'));
  for (let i = 0; ; i++) {
    if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) return { proc, url: `http://127.0.0.1:${port}` };
    if (i > 200) throw new Error('a service did not start (npm run build first?)');
    await sleep(50);
  }
}

const base = 20000 + Math.floor(Math.random() * 20000);
const servers = [await startServer(base), await startServer(base + 1)];
const jwt = new JwtService({ secret: SECRET });
const user = (k) => `user-${k}`;

// Session i is user i % users, on instance i % 2, in room lobby-(i % rooms).
const procs = servers.map((_, k) => new Child('clients.mjs', [], { name: `clients-${k}` }));
const tokens = Array.from({ length: opt.users }, (_, k) => jwt.sign({ sub: `u-${k}`, name: user(k) }, { expiresIn: 3600 }));
const started = Date.now();
const replies = await Promise.all(
  servers.map((server, k) => {
    const frames = [];
    for (let i = k; i < opt.sessions; i += 2) frames.push([JSON.stringify({ '@type': 'subscribe', jwt: tokens[i % opt.users] }), JSON.stringify({ '@type': 'joinRoom', room: `lobby-${i % opt.rooms}` })]);
    return procs[k].call('open', { url: `${server.url.replace('http', 'ws')}/ws`, frames, ackMatch: ['"subscribed"', '"joined":true'], concurrency: 50 }, 600_000);
  }),
);
const failed = replies.reduce((n, r) => n + r.failed, 0);
if (failed) throw new Error(`${failed} sessions failed: ${replies.find((r) => r.failed).firstError}`);
const connectSeconds = (Date.now() - started) / 1000;

const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
const ROUTES = [
  ['GET /healthz (baseline: HTTP alone)', '/healthz'],
  [`GET /api/sessions?user=<one of ${opt.users}> (${opt.sessions / opt.users} sessions)`, () => `/api/sessions?user=${user(Math.floor(Math.random() * opt.users))}`],
  ['GET /api/sessions?limit=1000 (all: count and the first 1,000)', '/api/sessions?limit=1000'],
  [`GET /api/rooms/<room>/presence (${opt.sessions / opt.rooms} members, 100 listed)`, () => `/api/rooms/lobby-${Math.floor(Math.random() * opt.rooms)}/presence`],
  ['GET /api/stats', '/api/stats'],
  ['POST /api/disconnect {"session":<unknown>} (no socket closed)', { method: 'POST', path: '/api/disconnect', body: JSON.stringify({ session: 'no-such-session' }) }],
];

/** One request; checks that both instances answered (else the figure would not be the server API's). */
async function once(server, route) {
  const spec = typeof route === 'string' ? { path: route } : typeof route === 'function' ? { path: route() } : route;
  const t0 = process.hrtime.bigint();
  const res = await fetch(`${server.url}${spec.path}`, { method: spec.method ?? 'GET', headers, body: spec.body });
  const body = await res.json();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!res.ok) throw new Error(`${spec.path}: ${res.status} ${JSON.stringify(body)}`);
  if (spec.path.startsWith('/api/') && (body.partial || body.answered.length !== 2)) throw new Error(`${spec.path}: not both instances: ${JSON.stringify(body).slice(0, 300)}`);
  return { ms, body };
}

// A check of what is measured: the counts are whole, across both instances.
const all = (await once(servers[0], '/api/sessions?limit=1')).body;
const one = (await once(servers[1], `/api/sessions?user=${user(7)}`)).body;
const room = (await once(servers[0], '/api/rooms/lobby-3/presence')).body;
if (all.count !== opt.sessions || one.count !== opt.sessions / opt.users || room.count !== opt.sessions / opt.rooms) {
  throw new Error(`counts: all ${all.count}, one user ${one.count}, one room ${room.count}`);
}

const samples = ROUTES.map(() => []);
const background = new Background([process.pid, ...servers.map((s) => s.proc.pid), ...procs.map((p) => p.proc.pid)]);
const load0 = background.start();
for (let n = 0; n < opt.warmup + opt.requests; n++) {
  for (let r = 0; r < ROUTES.length; r++) {
    const { ms } = await once(servers[(n + r) % 2], ROUTES[r][1]);
    if (n >= opt.warmup) samples[r].push(ms);
  }
}
const load = background.stop(load0);

printMachine(m);
console.log(`${opt.sessions} subscribed sessions over 2 instances (one Redis), ${opt.users} users, ${opt.rooms} push rooms; connected in ${connectSeconds.toFixed(1)} s`);
console.log(`${opt.requests} requests per route (after ${opt.warmup} warm-up rounds), one at a time, alternating between the instances`);
console.log(`during the run (${load.seconds.toFixed(1)} s): bench processes ${load.benchCores.toFixed(2)} cores, Redis ${load.redisCores.toFixed(2)}, other processes ${load.othersCores.toFixed(2)} cores, load average ${load.loadavg}`);
console.log('\n| route | p50 ms | p99 ms | p50 / healthz |\n|---|---|---|---|');
const floor = percentile(samples[0], 50);
ROUTES.forEach(([name], r) => {
  const p50 = percentile(samples[r], 50);
  console.log(`| ${name} | ${p50.toFixed(2)} | ${percentile(samples[r], 99).toFixed(2)} | ${(p50 / floor).toFixed(1)} |`);
});

await Promise.all(procs.map((p) => p.call('close', {}, 60_000).catch(() => undefined)));
await Promise.all(procs.map((p) => p.stop()));
for (const s of servers) s.proc.kill('SIGTERM');
await Promise.all(servers.map((s) => new Promise((r) => (s.proc.exitCode !== null ? r() : s.proc.once('exit', r)))));
// What the two instances wrote (history, chat, revocation markers): gone with them.
const redis = new Redis(opt.redis);
await deleteBenchKeys(redis, tag);
redis.disconnect();
process.exit(0);
