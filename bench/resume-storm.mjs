/**
 * A resume storm after a rolling restart (issue 19): `--clients` (3,000) `/ws` clients of
 * `--users` (100) users subscribe to a service process, each learns an offset (a mark pushed to
 * its user, published after the first 10% of the history, `--mark-at`), and they all go away; a backend
 * publishes the rest of a history of `--entries` (10,000, the marks included) pushes of
 * `--entry-bytes` (1,024) bytes, each to one user in turn (so a client may see 1 in `--users`);
 * the service is replaced by a new process (a rolling restart: the storm meets an instance that
 * has just started), and every client reconnects at once with `resumeFrom` its offset.
 *
 * Measured per build, this tree's `dist/` and `--baseline DIR` (a built copy of main: DIR/dist),
 * `--rounds` rounds alternating the builds, medians:
 * - the time from the storm's start to the last client's `resumed` frame, and how many
 *   recovered (with exactly the entries of their user after their offset, in order) or not, by reason;
 * - the service's peak RSS during the storm (VmHWM, reset through /proc/<pid>/clear_refs just before);
 * - the bytes Redis sent during the storm (INFO stats total_net_output_bytes, delta: with the
 *   bench's own redis-server, the default, the service is almost its only reader);
 * - the service's CPU time during the storm (/proc/<pid>/stat);
 * - another user's live latency: PUBLISH of a push to a probe client to its receipt, one every
 *   `--probe-ms` (100: under SESSION_RATE, 30 frames/s, which paces a session), p50/p99 during 2 s before the storm (after 1 s not counted: the
 *   first probes after a start wait for the lease) and during the storm.
 *
 * The service runs as `node --max-old-space-size=<--heap> DIR/dist/main.js` with the chart's
 * other defaults; the chart's 512Mi limit is given as MEMORY_BUDGET_MB (`--budget`, 512; the
 * baseline ignores it). `--cache-bytes N` sets HISTORY_CACHE_BYTES for this tree's build (the
 * baseline has no cache). The clients run in `--procs` (2) processes, each from its own
 * 127.0.0.x address. Every key is under a prefix of the run's own, deleted at the end; every
 * child is stopped (killed if the bench exits early).
 *
 *   npm run build && node bench/resume-storm.mjs --baseline .base/ac6e677 [--clients 3000 --entries 10000 --entry-bytes 1024 --users 100 --rounds 1]
 *   node bench/resume-storm.mjs --baseline .base/ac6e677 --clients 300 --entries 600 --entry-bytes 4096 --users 10
 *   node bench/resume-storm.mjs --cache-bytes 8388608,33554432      # this build only, HISTORY_CACHE_BYTES 8 MiB vs 32 MiB
 *   node bench/resume-storm.mjs --env HISTORY_REPLAY_TIMEOUT_MS=60000   # more settings for this tree's build
 */
import { JwtService } from '@nestjs/jwt';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import process from 'node:process';
import { SingleTopology } from '../test/support/redis-topology.mjs';
import { Child, args, benchChannels, deleteMatching, machine, median, percentile, printMachine, serviceEnv, sleep } from './lib/common.mjs';
import { cpuMs, exited, startService, watchPeak } from './lib/proc.mjs';

const opt = args({
  baseline: '',
  clients: 3000,
  users: 100,
  entries: 10_000,
  'entry-bytes': 1024,
  rounds: 1,
  procs: 2,
  heap: 384,
  budget: 512,
  'cache-bytes': '',
  env: '',
  'mark-at': 0.1,
  'probe-ms': 100,
  redis: '',
  prof: '',
});
const SECRET = 'bench-' + randomBytes(6).toString('hex');
const jwt = new JwtService({ secret: SECRET });
const token = (name) => jwt.sign({ sub: `u-${name}`, name }, { expiresIn: 3600 });
const MiB = 1024 * 1024;
const log = (...a) => process.stderr.write(`${a.join(' ')}\n`);

/** `--env A=1,B=2`: more settings for this tree's build (e.g. HISTORY_REPLAY_TIMEOUT_MS=60000). */
const extraEnv = Object.fromEntries(opt.env ? opt.env.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]) : []);
const caches = opt['cache-bytes'] ? String(opt['cache-bytes']).split(',').map(Number) : [undefined];
const variants = [
  ...(opt.baseline ? [{ name: 'baseline', dir: resolve(opt.baseline) }] : []),
  ...caches.map((c) => ({ name: c === undefined ? 'this tree' : `this tree, cache ${(c / MiB).toFixed(0)} MiB`, dir: resolve('.'), env: { ...extraEnv, ...(c === undefined ? {} : { HISTORY_CACHE_BYTES: String(c) }) } })),
];

// ------------------------------------------------------------------ processes

async function startServer(dir, env, execArgv = []) {
  const s = await startService(dir, { heap: opt.heap, env: serviceEnv(SECRET, { MEMORY_BUDGET_MB: String(opt.budget), ...env }), execArgv });
  return { ...s, wsUrl: `${s.ws}/ws` };
}


async function stopServer({ proc }, signal = 'SIGKILL') {
  if (exited(proc)) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(t);
}

async function netOut(redis) {
  return Number(/total_net_output_bytes:(\d+)/.exec(await redis.info('stats'))[1]);
}

/** Probes: a push to the probe user every `--probe-ms`; `stop()` answers the latencies (ms) of those received. */
function probing(redis, channel, prober, start) {
  const sent = new Map();
  let n = start;
  let timer;
  const tick = () => {
    const i = n++;
    sent.set(i, process.hrtime.bigint());
    void redis.publish(channel, JSON.stringify({ pushToUser: 'probe', payload: { probe: i } }));
    timer = setTimeout(tick, opt['probe-ms']);
  };
  tick();
  return {
    next: () => n,
    async stop() {
      clearTimeout(timer);
      // The last probes have a second to arrive.
      await sleep(1000);
      const got = await prober.call('probes');
      const ms = [...sent].map(([i, t]) => (got[i] === undefined ? Infinity : Number(BigInt(got[i]) - t) / 1e6));
      return ms;
    },
  };
}

// ------------------------------------------------------------------ one round of one build

/**
 * Entries before the marks (`--mark-at`, 10%: the probes published during the storm append to
 * the history too, and must not trim the clients' offsets away; 0.98: offsets near the head,
 * replays that walk little), and the number of the last entry: the marks count in `--entries`.
 */
const lead = Math.floor(opt.entries * opt['mark-at']);
const last = opt.entries - opt.users - 1;
if (lead > last) throw new Error(`--mark-at ${opt['mark-at']} leaves no entry after the marks (${opt.entries} entries, ${opt.users} of them marks)`);

async function round(variant, redisUrl, r) {
  const prefix = `bench:resume-storm:${randomBytes(4).toString('hex')}:`;
  const { env: channels } = benchChannels();
  const env = { ...channels, REDIS_URL: redisUrl, HISTORY_KEY: `${prefix}history`, CHAT_KEY_PREFIX: `${prefix}chat:`, REVOCATIONS_KEY: `${prefix}revoked`, ...variant.env };
  const redis = new Redis(redisUrl);
  const workers = Array.from({ length: opt.procs }, (_, i) => new Child('resume-clients.mjs', [], { name: `clients-${i}` }));
  // The probe client in a process of its own: the storm's clients do not delay its receipts.
  const prober = new Child('resume-clients.mjs', [], { name: 'probe' });
  let server;
  try {
    await Promise.all([...workers, prober].map((w) => w.once('ready')));
    server = await startServer(variant.dir, env);
    // Clients: client k is user k % users, in process k % procs.
    const users = Array.from({ length: opt.clients }, (_, k) => `user-${k % opt.users}`);
    const mine = (p) => users.map((u, k) => ({ u, k })).filter(({ k }) => k % opt.procs === p);
    const addr = (p) => `127.0.0.${2 + p}`;
    log(`${variant.name} / round ${r}: ${opt.clients} clients subscribe`);
    const opened = await Promise.all(workers.map((w, p) => w.call('subscribe', { url: server.wsUrl, jwts: mine(p).map(({ u }) => token(u)), localAddress: addr(p) }, 300_000)));
    if (opened.some((o) => o.failed)) throw new Error(`subscribe failed: ${JSON.stringify(opened)}`);
    // The history, `--entries` in all: LEAD entries, a mark to each user (each client's offset:
    // near the start, not at it, which the probes' own entries may trim), the other entries.
    log(`${variant.name} / round ${r}: ${opt.entries} entries of ${opt['entry-bytes']} bytes`);
    const pad = 'x'.repeat(Math.max(0, opt['entry-bytes'] - 60));
    const publish = async (from, to) => {
      for (let i = from; i < to; i += 500) {
        const p = redis.pipeline();
        for (let j = i; j < Math.min(to, i + 500); j++) p.publish(channels.CHANNEL_PUSH, JSON.stringify({ pushToUser: `user-${j % opt.users}`, payload: { bench: j, pad } }));
        await p.exec();
      }
    };
    await publish(0, lead);
    const pipe = redis.pipeline();
    for (let u = 0; u < opt.users; u++) pipe.publish(channels.CHANNEL_PUSH, JSON.stringify({ pushToUser: `user-${u}`, payload: { mark: 1, u } }));
    await pipe.exec();
    const offsets = await Promise.all(workers.map((w) => w.call('waitMark', { mark: 1 }, 120_000)));
    await Promise.all(workers.map((w) => w.call('close', {}, 60_000)));
    await publish(lead, last + 1);
    // The history holds them all once the last one is in the stream.
    for (const end = Date.now() + 60_000; ; await sleep(100)) {
      const [[, fields] = []] = await redis.xrevrange(env.HISTORY_KEY, '+', '-', 'COUNT', 1);
      if (fields?.some((f) => f.includes(`"bench":${last},`))) break;
      if (Date.now() > end) throw new Error('the history did not get every entry');
    }
    const xlen = await redis.xlen(env.HISTORY_KEY);

    // The rolling restart: a new process takes the storm.
    const atStart = await netOut(redis);
    await stopServer(server, 'SIGTERM');
    server = await startServer(variant.dir, env, opt.prof ? ['--cpu-prof', `--cpu-prof-dir=${opt.prof}`] : []);
    const startOut = (await netOut(redis)) - atStart;
    await prober.call('probeOpen', { url: server.wsUrl, jwt: token('probe') });
    // The first probes after a start wait for the lease to be taken over (a few hundred ms): not counted.
    const warmup = probing(redis, channels.CHANNEL_PUSH, prober, 0);
    await sleep(1000);
    await warmup.stop();
    const before = probing(redis, channels.CHANNEL_PUSH, prober, 500_000);
    await sleep(2000);
    const quiet = await before.stop();
    if (process.env.BENCH_DEBUG) log(`probes before the storm (ms): ${quiet.map((x) => x.toFixed(0)).join(" ")}`);

    // The storm.
    const plan = workers.map((_, p) =>
      mine(p).map(({ u, k }, i) => {
        const user = Number(u.slice(5));
        const expect = [];
        for (let j = lead; j <= last; j++) if (j % opt.users === user) expect.push(j);
        return { jwt: token(u), resumeFrom: offsets[p][i], expect, k };
      }),
    );
    await sleep(500);
    const pid = server.proc.pid;
    const { idle, peak } = watchPeak(pid);
    const [out0, cpu0] = [await netOut(redis), cpuMs(pid)];
    const during = probing(redis, channels.CHANNEL_PUSH, prober, 1_000_000);
    log(`${variant.name} / round ${r}: storm`);
    const t0 = process.hrtime.bigint();
    const results = (await Promise.all(workers.map((w, p) => w.call('storm', { url: server.wsUrl, clients: plan[p], localAddress: addr(p), t0 }, 300_000)))).flat();
    const stormMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const [out1, cpu1] = exited(server.proc) ? [await netOut(redis), NaN] : [await netOut(redis), cpuMs(pid)];
    const peakRss = peak();
    const live = await during.stop();
    const alive = !exited(server.proc);

    const reasons = {};
    for (const x of results) reasons[x.recovered ? (x.exact ? 'recovered' : 'recovered, NOT EXACT') : x.reason] = (reasons[x.recovered ? (x.exact ? 'recovered' : 'recovered, NOT EXACT') : x.reason] ?? 0) + 1;
    const answered = results.filter((x) => x.ms !== undefined).map((x) => x.ms);
    const recoveredMs = results.filter((x) => x.recovered).map((x) => x.ms);
    const res = {
      variant: variant.name,
      alive,
      xlen,
      lastMs: answered.length === results.length ? Math.max(...answered) : NaN,
      stormMs,
      lastRecoveredMs: recoveredMs.length ? Math.max(...recoveredMs) : NaN,
      reasons,
      retried: results.filter((x) => x.retries).length,
      // When the sockets opened: a busy service accepts late, and a full listen queue drops SYNs (retried by the kernel after 1, 3, 7 s...).
      connectP50: percentile(results.filter((x) => x.connectMs !== undefined).map((x) => x.connectMs), 50),
      connectMax: Math.max(...results.filter((x) => x.connectMs !== undefined).map((x) => x.connectMs)),
      idle,
      peak: peakRss,
      redisOut: out1 - out0,
      startOut,
      cpu: cpu1 - cpu0,
      quiet: { p50: percentile(quiet, 50), p99: percentile(quiet, 99), lost: quiet.filter((x) => x === Infinity).length, n: quiet.length },
      live: { p50: percentile(live, 50), p99: percentile(live, 99), lost: live.filter((x) => x === Infinity).length, n: live.length },
    };
    log(`${variant.name} / round ${r}: ${JSON.stringify(res)}`);
    return res;
  } finally {
    await Promise.all([...workers, prober].map((w) => w.stop()));
    // SIGTERM: a clean exit, which writes the --cpu-prof profile.
    if (server) await stopServer(server, opt.prof ? 'SIGTERM' : 'SIGKILL');
    await deleteMatching(redis, `${prefix}*`);
    await redis.quit();
  }
}

// ------------------------------------------------------------------ run

const m = machine();
const topology = opt.redis ? undefined : await SingleTopology.start();
process.on('exit', () => topology?.stopNow());
const redisUrl = opt.redis || topology.url;
const results = [];
try {
  for (let r = 1; r <= opt.rounds; r++) for (const v of variants) results.push(await round(v, redisUrl, r));
} finally {
  await topology?.stop();
}

printMachine(m);
console.log(
  `storm: ${opt.clients} clients of ${opt.users} users (${opt.procs} client processes) resume at once, on a just-restarted service, over ${opt.entries} entries of ${opt['entry-bytes']} bytes (1 in ${opt.users} to each user), from offsets ${lead} entries into it (${last - lead + 1} entries after them); ` +
    `service: --max-old-space-size=${opt.heap}, MEMORY_BUDGET_MB=${opt.budget}, ${opt.env ? `this tree: ${opt.env}, ` : ''}other settings default; Redis: ${opt.redis ? opt.redis : 'its own redis-server, started by the bench'}`,
);
console.log(`medians of ${opt.rounds} round(s); "all resumed": storm start to the last client's resumed frame; live latency: a push to another user every ${opt['probe-ms']} ms, PUBLISH to receipt\n`);
console.log('| build | all resumed (s) | recovered | not recovered (reason: count) | connects tried again | socket open p50 / last (s) | peak RSS (MiB) | RSS before (MiB) | under budget | alive | Redis bytes out during the storm (MiB) | at the restart (MiB) | service CPU during the storm (s) | live p50 / p99 before (ms) | live p50 / p99 during (ms) | probes lost |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : String(x));
for (const v of variants) {
  const rows = results.filter((x) => x.variant === v.name);
  const med = (fn) => median(rows.map(fn));
  const recovered = med((x) => x.reasons.recovered ?? 0);
  const keys = [...new Set(rows.flatMap((x) => Object.keys(x.reasons)))].filter((k) => k !== 'recovered').sort();
  const others = keys.map((k) => `${k}: ${rows.map((x) => x.reasons[k] ?? 0).join('/')}`).join(', ') || '-';
  console.log(
    `| ${v.name} | ${f1(med((x) => x.lastMs / 1000))} | ${recovered} of ${opt.clients} | ${others} | ${med((x) => x.retried)} | ${f1(med((x) => x.connectP50 / 1000))} / ${f1(med((x) => x.connectMax / 1000))} | ${med((x) => x.peak / MiB).toFixed(0)} | ${med((x) => x.idle / MiB).toFixed(0)} | ${rows.every((x) => x.peak < opt.budget * MiB) ? 'yes' : 'NO'} | ${rows.every((x) => x.alive) ? 'yes' : 'NO'} | ${f1(med((x) => x.redisOut / MiB))} | ${f1(med((x) => x.startOut / MiB))} | ${f1(med((x) => x.cpu / 1000))} | ${f1(med((x) => x.quiet.p50))} / ${f1(med((x) => x.quiet.p99))} | ${f1(med((x) => x.live.p50))} / ${f1(med((x) => x.live.p99))} | before ${rows.map((x) => `${x.quiet.lost}/${x.quiet.n}`).join(', ')}; during ${rows.map((x) => `${x.live.lost}/${x.live.n}`).join(', ')} |`,
  );
}
if (opt.rounds > 1) {
  const each = (fn) => variants.map((v) => `${v.name}: ${results.filter((x) => x.variant === v.name).map(fn).join(', ')}`).join('; ');
  console.log(`\nper round: all resumed (s) ${each((x) => f1(x.lastMs / 1000))}; recovered ${each((x) => x.reasons.recovered ?? 0)}; peak RSS (MiB) ${each((x) => (x.peak / MiB).toFixed(0))}`);
}
process.exit(0);
