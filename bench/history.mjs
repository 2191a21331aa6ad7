/**
 * What the shared event history (issue 11) costs per event: time from Redis PUBLISH to a
 * client's receipt, on a build WITHOUT the history (the baseline: `--baseline DIR`, a built
 * copy of main) and on this tree's build, in the same run, interleaved; and the stream's
 * memory per 10,000 events.
 *
 * One server process per variant and round (`node <dir>/dist/main.js`), one subscribed
 * client and the publisher in this process: t0 = hrtime before PUBLISH, t1 = hrtime at the
 * client's receipt (same clock). A bare task event (keyed: never coalesced) per sample,
 * `gap` ms apart, after `warmup` unmeasured ones. Variants alternate for `rounds` rounds;
 * samples are pooled; p50 and p99 (nearest rank) per variant.
 *
 * Memory: 10,000 XADDs of a representative node event (the DELETE of bench/fanout.mjs,
 * as a NestJS envelope) to a fresh stream, then MEMORY USAGE <key> SAMPLES 0.
 *
 *   npm run build
 *   mkdir -p /tmp/sb-main && git archive main | tar -x -C /tmp/sb-main && ln -s "$PWD/node_modules" /tmp/sb-main/node_modules && (cd /tmp/sb-main && npx tsc -p tsconfig.build.json)
 *   node bench/history.mjs --baseline /tmp/sb-main [--events 300] [--rounds 3] [--warmup 30] [--gap 5] [--redis redis://127.0.0.1:6379]
 */
import { JwtService } from '@nestjs/jwt';
import { Redis } from 'ioredis';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import process from 'node:process';
import { WebSocket } from 'ws';
import { args, benchChannels, machine, percentile, printMachine, serviceEnv, sleep } from './lib/common.mjs';

const opt = args({ baseline: '', events: 300, rounds: 3, warmup: 30, gap: 5, redis: 'redis://127.0.0.1:6379', memory: 10000 });
if (!opt.baseline) throw new Error('--baseline DIR (a built copy of main) is required');
const SECRET = 'bench-' + randomBytes(6).toString('hex');
const jwt = new JwtService({ secret: SECRET });
const variants = [
  { name: 'main (pub/sub only)', dir: resolve(opt.baseline) },
  { name: 'history (this tree)', dir: resolve('.') },
];

async function startServer(dir, env) {
  const proc = spawn(process.execPath, [`${dir}/dist/main.js`], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 200; i++) {
    if (await fetch(`http://127.0.0.1:${env.PORT}/readyz`).then((r) => r.ok, () => false)) return proc;
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error(`server in ${dir} did not become ready`);
}

async function round(variant) {
  const { env: channels } = benchChannels();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const env = serviceEnv(SECRET, { ...channels, HISTORY_KEY: `bench.${randomBytes(4).toString('hex')}.history`, REDIS_URL: opt.redis, PORT: String(port), SESSION_RATE: '100000', SESSION_BURST: '10000' });
  const proc = await startServer(variant.dir, env);
  const pub = new Redis(opt.redis);
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise((ok, ko) => (socket.once('open', ok), socket.once('error', ko)));
  const waiting = new Map();
  socket.on('message', (data) => {
    const t1 = process.hrtime.bigint();
    const frame = JSON.parse(data.toString());
    const id = frame.TaskUpdated?.ID;
    waiting.get(id)?.(t1);
    if (frame['@type'] === 'subscribed') waiting.get('ack')?.();
  });
  const ack = new Promise((ok) => waiting.set('ack', ok));
  socket.send(JSON.stringify({ '@type': 'subscribe', jwt: jwt.sign({ sub: 'u-alice', name: 'alice' }, { expiresIn: 3600 }) }));
  await ack;
  const samples = [];
  for (let n = 0; n < opt.warmup + opt.events; n++) {
    const id = `e${n}`;
    const got = new Promise((ok, ko) => {
      const timer = setTimeout(() => ko(new Error(`${variant.name}: event ${id} not received`)), 10_000);
      waiting.set(id, (t1) => (clearTimeout(timer), ok(t1)));
    });
    const t0 = process.hrtime.bigint();
    await pub.publish(channels.CHANNEL_TASKS, JSON.stringify({ TaskUpdated: { ID: id, TriggerOwner: 'alice', Status: 'Running' } }));
    const t1 = await got;
    waiting.delete(id);
    if (n >= opt.warmup) samples.push(Number(t1 - t0) / 1e6);
    await sleep(opt.gap);
  }
  socket.close();
  pub.disconnect();
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  return samples;
}

async function memoryPer(n) {
  const redis = new Redis(opt.redis);
  const key = `bench.${randomBytes(4).toString('hex')}.memory`;
  const channel = 'topic.pydio.tree.nodes.changes';
  for (let i = 0; i < n; i += 500) {
    const batch = redis.pipeline();
    for (let k = i; k < Math.min(n, i + 500); k++) {
      const data = { Type: 'DELETE', Source: { Uuid: `bench-${k}-${randomBytes(8).toString('hex')}`, Path: `pydiods1/bench/folder/sub/file-${k}.txt`, Type: 'LEAF', MTime: '1718000000', Size: '2048', Etag: randomBytes(16).toString('hex') } };
      batch.xadd(key, 'MAXLEN', '~', String(n), '*', 'c', channel, 'd', JSON.stringify({ pattern: channel, data }), 'p', '1');
    }
    await batch.exec();
  }
  const [len, bytes] = [await redis.xlen(key), await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')];
  const sample = (await redis.xrange(key, '-', '+', 'COUNT', 1))[0][1][3].length;
  await redis.del(key);
  redis.disconnect();
  return { len, bytes: Number(bytes), payload: sample };
}

const m = machine();
const pooled = new Map(variants.map((v) => [v.name, []]));
for (let r = 0; r < opt.rounds; r++) {
  const order = r % 2 ? [...variants].reverse() : variants;
  for (const v of order) {
    process.stderr.write(`round ${r + 1}/${opt.rounds}: ${v.name}\n`);
    pooled.get(v.name).push(...(await round(v)));
  }
}
const mem = await memoryPer(opt.memory);

printMachine(m);
console.log(`\n### PUBLISH -> client receipt, one task event at a time (${opt.events} events x ${opt.rounds} rounds per variant, ${opt.gap} ms apart)\n`);
console.log('| variant | samples | p50 ms | p99 ms |');
console.log('|---|---|---|---|');
const rows = variants.map((v) => {
  const s = pooled.get(v.name);
  return { name: v.name, n: s.length, p50: percentile(s, 50), p99: percentile(s, 99) };
});
for (const r of rows) console.log(`| ${r.name} | ${r.n} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} |`);
console.log(`\nadded by the history: p50 +${(rows[1].p50 - rows[0].p50).toFixed(3)} ms (x${(rows[1].p50 / rows[0].p50).toFixed(2)}), p99 +${(rows[1].p99 - rows[0].p99).toFixed(3)} ms (x${(rows[1].p99 / rows[0].p99).toFixed(2)})`);
console.log(`\n### History memory\n\n${mem.len} entries of a ${mem.payload}-byte node event (envelope): MEMORY USAGE ${mem.bytes} bytes = ${(mem.bytes / 1024 / 1024).toFixed(2)} MiB, ${(mem.bytes / mem.len).toFixed(0)} bytes per entry`);
