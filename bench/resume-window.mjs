/**
 * The resume window (issue 19): how long a client can be away from a deployment publishing
 * `--rate` (1,000) events/s and still resume with `recovered:true`. A backend publishes pushes of
 * `--entry-bytes` (512) bytes, 1 in `--share` (100) to the client's user and the others to
 * 97 other users (most of the history is not for the client). `--away` clients of that user
 * subscribe, all leave at once after 2 s of traffic, and each comes back after its own
 * number of seconds (`--away 1,5,8,9,10,12,20`) with `resumeFrom` the last offset it saw.
 * Per client: recovered or the reason, frames replayed, the time from its subscribe to
 * `resumed`, and whether what it got, replay then live (1 s), is every event of its user
 * after its offset, in order, once.
 *
 * Per build: this tree's `dist/` and `--baseline DIR` (DIR/dist), `--rounds` alternated. The
 * service runs as `node --max-old-space-size=<--heap> DIR/dist/main.js` with MEMORY_BUDGET_MB
 * `--budget` (512) and every other setting at its default (HISTORY_MAX_LENGTH 10,000,
 * HISTORY_TTL_SECONDS 300, HISTORY_REPLAY_SCAN_MAX the history's length); `--env A=1,B=2` adds
 * settings to this tree's build. Redis: a redis-server of the bench's own unless `--redis URL`;
 * every key is under a prefix of the run's own, deleted at the end.
 *
 *   npm run build && node bench/resume-window.mjs --baseline .base/ac6e677 [--rate 1000 --away 1,5,8,9,10,12,20 --rounds 1]
 */
import { JwtService } from '@nestjs/jwt';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import process from 'node:process';
import { WebSocket } from 'ws';
import { SingleTopology } from '../test/support/redis-topology.mjs';
import { args, benchChannels, deleteMatching, machine, printMachine, serviceEnv, sleep } from './lib/common.mjs';
import { startService } from './lib/proc.mjs';

const opt = args({
  baseline: '',
  rate: 1000,
  share: 100,
  'entry-bytes': 512,
  away: '1,5,8,9,10,12,20',
  rounds: 1,
  heap: 384,
  budget: 512,
  env: '',
  redis: '',
});
const SECRET = 'bench-' + randomBytes(6).toString('hex');
const jwt = new JwtService({ secret: SECRET });
const token = (name) => jwt.sign({ sub: `u-${name}`, name }, { expiresIn: 3600 });
const log = (...a) => process.stderr.write(`${a.join(' ')}\n`);
const aways = opt.away.split(',').map(Number);
const extraEnv = Object.fromEntries(opt.env ? opt.env.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]) : []);
const variants = [...(opt.baseline ? [{ name: 'baseline', dir: resolve(opt.baseline), env: {} }] : []), { name: 'this tree', dir: resolve('.'), env: extraEnv }];

async function startServer(dir, env) {
  const s = await startService(dir, { heap: opt.heap, env: serviceEnv(SECRET, { MEMORY_BUDGET_MB: String(opt.budget), ...env }) });
  return { ...s, wsUrl: `${s.ws}/ws` };
}

/** A socket of the user `away`: `seen` is the sequence of its events (`"w":<n>`), with the offset of the last. */
async function open(url, resumeFrom) {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  socket.on('error', () => undefined);
  await new Promise((ok, ko) => (socket.once('open', ok), socket.once('error', ko)));
  const c = { socket, seen: [], lastOffset: undefined, resumed: undefined, replayed: undefined };
  const answered = new Promise((resolve) => {
    socket.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('{"@type":"resumed"')) {
        c.resumed = JSON.parse(text);
        c.replayed = c.seen.length;
        return resolve(true);
      }
      if (text.startsWith('{"@type":"subscribed"') && resumeFrom === undefined) return resolve(true);
      if (text.startsWith('{"@type":"error"')) return resolve(false);
      const w = /"w":(\d+)/.exec(text);
      if (w) {
        c.seen.push(Number(w[1]));
        c.lastOffset = /"@offset":"([^"]+)"/.exec(text)?.[1];
      }
    });
    setTimeout(() => resolve(false), 30_000);
  });
  const t = Date.now();
  socket.send(JSON.stringify({ '@type': 'subscribe', jwt: token('away'), ...(resumeFrom ? { resumeFrom } : {}) }));
  if (!(await answered)) throw new Error('no answer to subscribe');
  c.ms = Date.now() - t;
  return c;
}

async function run(variant, redisUrl, r) {
  const prefix = `bench:resume-window:${randomBytes(4).toString('hex')}:`;
  const { env: channels } = benchChannels();
  const env = { ...channels, REDIS_URL: redisUrl, HISTORY_KEY: `${prefix}history`, CHAT_KEY_PREFIX: `${prefix}chat:`, REVOCATIONS_KEY: `${prefix}revoked`, ...variant.env };
  const redis = new Redis(redisUrl);
  let server;
  let timer;
  try {
    server = await startServer(variant.dir, env);
    const clients = await Promise.all(aways.map(() => open(server.wsUrl)));
    // The backend: `--rate` events/s in ticks of 10 ms, 1 in `--share` to `away`.
    const pad = 'x'.repeat(Math.max(0, opt['entry-bytes'] - 60));
    let i = 0;
    let w = 0;
    const started = Date.now();
    const tick = () => {
      const due = Math.floor(((Date.now() - started) * opt.rate) / 1000);
      const p = redis.pipeline();
      for (; i < due; i++) {
        const data = i % opt.share === 0 ? { pushToUser: 'away', payload: { w: w++, pad } } : { pushToUser: `other-${i % 97}`, payload: { x: i, pad } };
        p.publish(channels.CHANNEL_PUSH, JSON.stringify(data));
      }
      void p.exec();
      timer = setTimeout(tick, 10);
    };
    tick();
    await sleep(2000);
    // Every client leaves at once, each with the last offset it saw.
    const left = clients.map((c) => ({ offset: c.lastOffset, last: c.seen[c.seen.length - 1] }));
    for (const c of clients) c.socket.terminate();
    const leftAt = Date.now();
    log(`${variant.name} / round ${r}: away ${aways.join(', ')} s at ${opt.rate} events/s`);
    const results = await Promise.all(
      aways.map(async (s, k) => {
        await sleep(leftAt + s * 1000 - Date.now());
        const entriesSince = Math.round(((Date.now() - leftAt) / 1000) * opt.rate);
        const c = await open(server.wsUrl, left[k].offset);
        await sleep(1000); // live events after `resumed`
        c.socket.terminate();
        const { recovered } = c.resumed;
        // A build without reasons answers none: what it sent instead.
        const reason = c.resumed.reason ?? JSON.stringify(c.resumed);
        // Replay then live: every event of the user after the offset, in order, once.
        const continuous = c.seen.length > 0 && c.seen.every((n, j) => n === left[k].last + 1 + j);
        return { away: s, recovered, reason, replayed: c.replayed, ms: c.ms, exact: recovered ? continuous : undefined, entriesSince };
      }),
    );
    clearTimeout(timer);
    const rate = (i / ((Date.now() - started) / 1000)).toFixed(0);
    const xlen = await redis.xlen(env.HISTORY_KEY);
    return results.map((x) => ({ ...x, variant: variant.name, rate, xlen }));
  } finally {
    clearTimeout(timer);
    if (server && server.proc.exitCode === null) server.proc.kill('SIGKILL');
    await deleteMatching(redis, `${prefix}*`);
    await redis.quit();
  }
}

const m = machine();
const topology = opt.redis ? undefined : await SingleTopology.start();
process.on('exit', () => topology?.stopNow());
const results = [];
try {
  for (let r = 1; r <= opt.rounds; r++) for (const v of variants) results.push(...(await run(v, opt.redis || topology.url, r)));
} finally {
  await topology?.stop();
}

printMachine(m);
console.log(
  `a client away for N s from a deployment publishing ${opt.rate} events/s (measured: ${[...new Set(results.map((x) => x.rate))].join(', ')}) of ${opt['entry-bytes']} bytes, 1 in ${opt.share} for it; ` +
    `service: --max-old-space-size=${opt.heap}, MEMORY_BUDGET_MB=${opt.budget}, ${opt.env ? `this tree: ${opt.env}, ` : ''}other settings default; history length at the end: ${[...new Set(results.map((x) => x.xlen))].join(', ')}\n`,
);
console.log('| build | away (s) | entries since its offset (approx.) | resumed | frames replayed | subscribe to resumed (ms) | replay + live = every event after the offset, once, in order |');
console.log('|---|---|---|---|---|---|---|');
for (const v of variants) {
  for (const s of aways) {
    for (const x of results.filter((y) => y.variant === v.name && y.away === s)) {
      console.log(`| ${v.name} | ${s} | ${x.entriesSince} | ${x.recovered ? 'recovered' : `not recovered: ${x.reason}`} | ${x.replayed} | ${x.ms} | ${x.exact === undefined ? '-' : x.exact ? 'yes' : 'NO'} |`);
    }
  }
}
process.exit(0);
