/**
 * What a call over the socket (docs/protocol.md 9) adds to calling the backend directly: the
 * same backend (its own process, verifying an HS256 identity token either way), called in the
 * same run by this process directly over HTTP (fetch, keep-alive, a token it signed itself
 * before the clock starts) and through the service (one subscribed WebSocket, a `call` frame,
 * the `result` frame; the service signs its token on the clock). Samples alternate between the
 * two, one at a time, `gap` ms apart, after `warmup` unmeasured pairs; p50, p99 and mean per
 * path, and the difference and ratio of the two.
 *
 *   npm run build && node bench/calls.mjs [--calls 2000] [--warmup 200] [--gap 1] [--params 64]
 */
import { JwtService } from '@nestjs/jwt';
import { SignJWT } from 'jose';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import process from 'node:process';
import { WebSocket } from 'ws';
import { Background } from './lib/background.mjs';
import { Child, args, machine, percentile, printMachine, serviceEnv, sleep } from './lib/common.mjs';

const opt = args({ calls: 2000, warmup: 200, gap: 1, params: 64 });
const SECRET = 'bench-' + randomBytes(8).toString('hex');
const CALL_SECRET = 'bench-call-' + randomBytes(16).toString('hex');
const METHOD = 'bench.echo';
const m = machine();

const backend = new Child('call-backend.mjs', [], { env: { CALL_SIGNING_SECRET: CALL_SECRET }, name: 'backend' });
const { port: backendPort } = await backend.once('ready');
const backendUrl = `http://127.0.0.1:${backendPort}/${METHOD}`;

const port = 20000 + Math.floor(Math.random() * 20000);
const env = serviceEnv(SECRET, { PORT: String(port), CALL_ROUTES: `${METHOD}=${backendUrl}`, CALL_SIGNING_SECRET: CALL_SECRET, CLIENT_FRAME_RATE: '100000', CLIENT_FRAME_BURST: '100000' });
const server = spawn(process.execPath, ['dist/main.js'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
process.on('exit', () => server.kill('SIGKILL'));
for (let i = 0; ; i++) {
  if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) break;
  if (i > 200) throw new Error('the service did not start (npm run build first?)');
  await sleep(50);
}

const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
await new Promise((ok, ko) => (socket.once('open', ok), socket.once('error', ko)));
const waiting = new Map();
socket.on('message', (data) => {
  const t = process.hrtime.bigint();
  const frame = JSON.parse(data.toString());
  waiting.get(frame['@type'] === 'subscribed' ? 'ack' : frame.id)?.({ t, frame });
});
const answer = (id) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no answer to ${id}`)), 10_000);
  waiting.set(id, (got) => (clearTimeout(timer), waiting.delete(id), resolve(got)));
});
const ack = answer('ack');
socket.send(JSON.stringify({ '@type': 'subscribe', jwt: new JwtService({ secret: SECRET }).sign({ sub: 'u-alice', name: 'alice', workspaces: [{ uuid: 'w1', slug: 'w', roots: [{ path: 'p/w' }] }] }, { expiresIn: 3600 }) }));
await ack;

const key = Buffer.from(CALL_SECRET);
const params = (n) => ({ n, pad: 'x'.repeat(opt.params) });

/** Directly: the token and body made before the clock starts (the service's are made on it). */
async function direct(n) {
  const body = Buffer.from(JSON.stringify({ method: METHOD, params: params(n) }));
  const token = await new SignJWT({ user: 'alice', body_sha256: createHash('sha256').update(body).digest('hex') })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('switchboard')
    .setAudience(METHOD)
    .setSubject('u-alice')
    .setIssuedAt()
    .setExpirationTime('1m')
    .sign(key);
  const t0 = process.hrtime.bigint();
  const res = await fetch(backendUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
  const json = await res.json();
  const t1 = process.hrtime.bigint();
  if (!json.ok) throw new Error(`direct call refused: ${JSON.stringify(json)}`);
  return Number(t1 - t0) / 1e6;
}

async function viaService(n) {
  const id = `c${n}`;
  const got = answer(id);
  const t0 = process.hrtime.bigint();
  socket.send(JSON.stringify({ '@type': 'call', id, method: METHOD, params: params(n) }));
  const { t, frame } = await got;
  if (frame['@type'] !== 'result' || !frame.result.ok) throw new Error(`call failed: ${JSON.stringify(frame)}`);
  return Number(t - t0) / 1e6;
}

const samples = { direct: [], service: [] };
const background = new Background([process.pid, backend.proc.pid, server.pid]);
const started = background.start();
for (let n = 0; n < opt.warmup + opt.calls; n++) {
  // Alternate which path goes first in a pair, so that neither always follows the other.
  const order = n % 2 ? [['direct', direct], ['service', viaService]] : [['service', viaService], ['direct', direct]];
  for (const [name, run] of order) {
    const ms = await run(n);
    if (n >= opt.warmup) samples[name].push(ms);
    await sleep(opt.gap);
  }
}
const load = background.stop(started);

const stat = (xs) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), mean: xs.reduce((a, b) => a + b, 0) / xs.length });
const d = stat(samples.direct);
const s = stat(samples.service);
printMachine(m);
console.log(`calls: ${opt.calls} per path (after ${opt.warmup} warm-up pairs), alternating, ${opt.gap} ms apart; params ${opt.params} B of padding`);
console.log(`during the run (${load.seconds.toFixed(1)} s): bench processes ${load.benchCores.toFixed(2)} cores, other processes ${load.othersCores.toFixed(2)} cores, load average ${load.loadavg}`);
const f = (x) => x.toFixed(3).padStart(8);
console.log('\n| path | p50 ms | p99 ms | mean ms |\n|---|---|---|---|');
console.log(`| backend directly (fetch, keep-alive) | ${f(d.p50)} | ${f(d.p99)} | ${f(d.mean)} |`);
console.log(`| through the service (call frame -> result frame) | ${f(s.p50)} | ${f(s.p99)} | ${f(s.mean)} |`);
console.log(`| added by the service | ${f(s.p50 - d.p50)} | ${f(s.p99 - d.p99)} | ${f(s.mean - d.mean)} |`);
console.log(`| ratio service / direct | ${(s.p50 / d.p50).toFixed(2).padStart(8)} | ${(s.p99 / d.p99).toFixed(2).padStart(8)} | ${(s.mean / d.mean).toFixed(2).padStart(8)} |`);

socket.close();
server.kill('SIGTERM');
await backend.stop();
process.exit(0);
