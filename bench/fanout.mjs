/**
 * Delivery of one node event to many sessions through the real path:
 * Redis PUBLISH -> bus -> topic handler -> audience (root index) -> fan-out -> outbox -> socket.
 *
 * The server runs in one child process, the clients in two others (sockets split between
 * them), the publisher is this process. For every event: each client process is told how
 * many receipts to expect, this process takes `t0 = process.hrtime.bigint()` and PUBLISHes
 * a bare DELETE NodeChangeEvent; each client process reports the hrtime of its first and
 * last receipt. hrtime is CLOCK_MONOTONIC on Linux, shared by every process on the machine
 * (checked at start: a mark sent over IPC must arrive later and within a few ms), so
 * `last - t0` is the time from PUBLISH to the last client's receipt.
 *
 * Scenarios, each on a fresh server, all in the same run:
 *   baseline     bare `ws` server SUBSCRIBEd to the same kind of channel, sending each message
 *                as-is to all its clients (no parsing, no filtering); N = each size
 *   switchboard  every session holds the workspace whose root contains the node; N = each size
 *   selective    N = 4,000 sessions, 1% (40) hold the node's workspace, the others hold
 *                other workspaces under the same datasource; only the 40 receive
 *   small        40 sessions, all receive: what `selective` should cost if it is indexed
 *
 * `warmup` events per scenario are not counted (JIT, first-use caches); then `events`
 * events, `gap` ms apart, median and p95 (nearest rank).
 *
 * The baseline/Switchboard pairs run `rounds` times (order alternating) because on a small
 * machine the client processes share the cores with the server and one run drifts; the
 * samples are pooled, and each round's ratio is printed too.
 *
 *   npm run build && node bench/fanout.mjs [--sizes 1000,4000] [--events 20] [--rounds 3] [--warmup 3] [--gap 100] [--prof DIR]
 */
import { JwtService } from '@nestjs/jwt';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import { Child, args, benchChannels, clockCheck, serviceEnv, machine, median, percentile, printMachine, sleep, waitSubscribed } from './lib/common.mjs';

const opt = args({ sizes: '1000,4000', events: 20, rounds: 3, warmup: 3, gap: 100, selective: 4000, share: 40, procs: 2, redis: 'redis://127.0.0.1:6379', prof: '' });
const SIZES = opt.sizes.split(',').map(Number);

const SECRET = 'bench-' + randomBytes(6).toString('hex');
const jwt = new JwtService({ secret: SECRET });
const { tag, env: channelEnv } = benchChannels();
const CHANNEL = channelEnv.CHANNEL_TREE;

const BENCH_WS = { uuid: 'w-bench', slug: 'bench', label: 'Bench', roots: [{ uuid: 'r-bench', path: 'pydiods1/bench' }] };
const personal = (i) => ({ uuid: `w-personal-${i}`, slug: 'personal-files', label: 'My Files', roots: [{ uuid: `r-personal-${i}`, path: `personal/user-${i}` }] });
const other = (k) => ({ uuid: `w-other-${k}`, slug: `other-${k}`, label: `Other ${k}`, roots: [{ uuid: `r-other-${k}`, path: `pydiods1/other-${k}` }] });

function subscribeFrame(i, workspace) {
  const token = jwt.sign({ sub: `uuid-user-${i}`, name: `user-${i}`, profile: 'standard', roles: ['ROOT_GROUP'], workspaces: [workspace, personal(i)] }, { expiresIn: 3600 });
  return JSON.stringify({ '@type': 'subscribe', jwt: token });
}

/** What Cells publishes when a file is deleted; the uuid carries the event number for the clients. */
function nodeEvent(id) {
  return JSON.stringify({
    Type: 'DELETE',
    Source: {
      Uuid: `bench-${tag}-${id}`,
      Path: `pydiods1/bench/folder/sub/file-${id}.txt`,
      Type: 'LEAF',
      Size: '123456',
      MTime: '1700000000',
      Etag: 'd41d8cd98f00b204e9800998ecf8427e',
      MetaStore: { name: JSON.stringify(`file-${id}.txt`), 'pydio:meta-data-source-name': '"pydiods1"' },
    },
  });
}

const pub = new Redis(opt.redis, { maxRetriesPerRequest: 1 });
const procs = Array.from({ length: opt.procs }, (_, k) => new Child('clients.mjs', [], { name: `clients-${k}` }));
await Promise.all(procs.map((p) => p.once('ready')));

// One 'done' listener per client process, dispatching to the waiter of that event.
const waiters = procs.map(() => new Map());
procs.forEach((p, k) => p.on('done', (msg) => waiters[k].get(msg.id)?.(msg)));

function startServer(kind) {
  const opts =
    kind === 'ws-redis'
      ? { channel: CHANNEL, redisUrl: opt.redis }
      : {
          env: serviceEnv(SECRET, {
            REDIS_URL: opt.redis,
            ...channelEnv,
            // Flow control must not pace the bench: a few events/s per session, far below this.
            SESSION_RATE: '100000',
            SESSION_BURST: '100000',
            // No liveness pings in the middle of a measurement (the baseline sends none either).
            PING_INTERVAL_MS: '600000',
            SHUTDOWN_GRACE_MS: '1000',
          }),
        };
  // --prof DIR: a V8 CPU profile of each server process, written to DIR when it exits.
  const execArgv = opt.prof ? ['--cpu-prof', `--cpu-prof-dir=${opt.prof}`] : [];
  return new Child('server.mjs', [kind], { name: kind, execArgv, env: { BENCH_SERVER_OPTS: JSON.stringify(opts) } });
}

let nextId = 0;

/** One event: PUBLISH, then wait for every client process to have its expected receipts. */
async function oneEvent(expected) {
  const id = ++nextId;
  await Promise.all(procs.map((p, k) => p.call('expect', { id, count: expected[k] })));
  const done = procs.map((p, k) =>
    expected[k] === 0
      ? Promise.resolve(undefined)
      : new Promise((resolve) => {
          waiters[k].set(id, resolve);
        }),
  );
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), 10_000)));
  const t0 = process.hrtime.bigint();
  const receivers = await pub.publish(CHANNEL, nodeEvent(id));
  const outcome = await Promise.race([Promise.all(done), timeout]);
  clearTimeout(timer);
  waiters.forEach((w) => w.delete(id));
  if (receivers !== 1) throw new Error(`PUBLISH reached ${receivers} subscribers, expected 1 (cross-talk?)`);
  if (outcome === 'timeout') {
    const got = await Promise.all(procs.map((p) => p.call('report', { id })));
    throw new Error(`event ${id}: timed out; received ${got.map((g) => g.count).join('+')} of ${expected.join('+')}`);
  }
  const reports = outcome.filter(Boolean);
  const last = reports.reduce((m, r) => (r.last > m ? r.last : m), 0n);
  const first = reports.reduce((m, r) => (m === undefined || r.first < m ? r.first : m), undefined);
  return { lastMs: Number(last - t0) / 1e6, firstMs: Number(first - t0) / 1e6 };
}

/**
 * One scenario on a fresh server: `sessions` = [{frame, receives}], socket i in process i % procs.
 */
async function scenario(name, kind, sessions) {
  const server = startServer(kind);
  try {
    const { port } = await server.once('ready');
    await waitSubscribed(pub, CHANNEL);
    const url = `ws://127.0.0.1:${port}/ws`;
    const share = procs.map(() => []);
    const expected = procs.map(() => 0);
    sessions.forEach((s, i) => {
      share[i % procs.length].push(s.frame);
      if (s.receives) expected[i % procs.length]++;
    });
    const ackMatch = kind === 'switchboard' ? '"@type":"subscribed"' : undefined;
    const opened = await Promise.all(procs.map((p, k) => p.call('open', { url, frames: share[k], ackMatch }, 120_000)));
    const failed = opened.reduce((n, o) => n + o.failed, 0);
    if (failed) throw new Error(`${name}: ${failed} sockets failed: ${opened.find((o) => o.failed).firstError}`);
    const openMs = Math.max(...opened.map((o) => o.ms));
    await sleep(300);

    for (let i = 0; i < opt.warmup; i++) {
      await oneEvent(expected);
      await sleep(opt.gap);
    }
    const samples = [];
    const cpu0 = await server.call('cpu');
    for (let i = 0; i < opt.events; i++) {
      samples.push(await oneEvent(expected));
      await sleep(opt.gap);
    }
    const cpu1 = await server.call('cpu');
    // Server CPU per event, independent of how fast the client processes read: user + system.
    const cpuMs = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1000 / opt.events;
    const stats = await Promise.all(procs.map((p) => p.call('stats')));
    const closedEarly = stats.reduce((n, s) => n + s.closedEarly, 0);
    if (closedEarly) throw new Error(`${name}: ${closedEarly} sockets closed during the run: ${JSON.stringify(stats.map((s) => s.closeCodes))}`);
    await Promise.all(procs.map((p) => p.call('close')));
    const last = samples.map((s) => s.lastMs);
    const first = samples.map((s) => s.firstMs);
    const receivers = expected.reduce((a, b) => a + b, 0);
    const r = { name, kind, sessions: sessions.length, receivers, median: median(last), p95: percentile(last, 95), firstMedian: median(first), openMs, last, first, cpuMs };
    console.error(
      `${name.padEnd(34)} sessions ${String(r.sessions).padStart(5)} receivers ${String(receivers).padStart(5)}  last: median ${r.median.toFixed(2)} ms p95 ${r.p95.toFixed(2)} ms  first: median ${r.firstMedian.toFixed(2)} ms  server CPU ${cpuMs.toFixed(2)} ms/event  (sockets opened in ${openMs.toFixed(0)} ms)`,
    );
    return r;
  } finally {
    await server.stop();
  }
}

// Read before the run: the source tree may move while it runs (others commit and rebuild).
const m = machine();
const started = Date.now();
const clock = await clockCheck(procs);
console.error(`clock check: IPC mark seen by the client processes ${clock.min.toFixed(3)}..${clock.max.toFixed(3)} ms later (>= 0: one clock)`);

const everyone = (n) => Array.from({ length: n }, (_, i) => ({ frame: subscribeFrame(i, BENCH_WS), receives: true }));
/** Samples pooled per scenario over the rounds; each round's median kept for the per-round ratios. */
const pooled = new Map();
function add(r) {
  let p = pooled.get(r.name);
  if (!p) pooled.set(r.name, (p = { ...r, last: [], first: [], rounds: [], cpu: [] }));
  p.cpu.push(r.cpuMs);
  p.last.push(...r.last);
  p.first.push(...r.first);
  p.rounds.push(r.median);
}
for (let round = 1; round <= opt.rounds; round++) {
  for (const n of SIZES) {
    // Alternate which goes first, so that drift within a round favours neither.
    const pair = [
      () => scenario(`baseline (bare ws broadcast) N=${n}`, 'ws-redis', everyone(n)),
      () => scenario(`switchboard N=${n}`, 'switchboard', everyone(n)),
    ];
    if (round % 2 === 0) pair.reverse();
    for (const run of pair) add(await run());
  }
}
// 1% see the node: one session in each block of 100 holds the bench workspace, at offset
// k % procs in block k, so that (socket i living in process i % procs) the receivers are
// spread over every client process.
const stride = Math.round(opt.selective / opt.share);
const receives = (i) => i % stride === Math.floor(i / stride) % opt.procs;
const mixed = Array.from({ length: opt.selective }, (_, i) =>
  receives(i) ? { frame: subscribeFrame(i, BENCH_WS), receives: true } : { frame: subscribeFrame(i, other(i % 99)), receives: false },
);
add(await scenario(`switchboard selective ${opt.share}/${opt.selective}`, 'switchboard', mixed));
add(await scenario(`switchboard small ${opt.share}/${opt.share}`, 'switchboard', everyone(opt.share)));

await Promise.all(procs.map((p) => p.stop()));
await pub.quit();

console.log(`\n## fanout: PUBLISH -> last client receipt\n`);
console.log(`${opt.events} events per scenario and round after ${opt.warmup} warm-up, ${opt.gap} ms apart; ${opt.rounds} rounds of the baseline/Switchboard pairs (order alternating), samples pooled; selective and small: one round`);
printMachine(m);
console.log(`client processes: ${opt.procs}; clock check (IPC mark, parent -> clients): ${clock.min.toFixed(3)}..${clock.max.toFixed(3)} ms`);
console.log(`duration: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
console.log('| scenario | sessions | receivers | events | last receipt median (ms) | p95 (ms) | first receipt median (ms) | deliveries/s (receivers / median) | Switchboard / baseline (pooled median) | per-round ratios | server CPU ms/event (median of rounds) | CPU ratio |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|');
const results = [...pooled.values()].map((r) => ({ ...r, median: median(r.last), p95: percentile(r.last, 95), firstMedian: median(r.first) }));
for (const r of results) {
  const base = r.kind === 'switchboard' && r.receivers === r.sessions ? results.find((b) => b.kind === 'ws-redis' && b.sessions === r.sessions) : undefined;
  const ratio = base ? `${(r.median / base.median).toFixed(2)}x` : '';
  const perRound = base ? r.rounds.map((x, i) => (x / base.rounds[i]).toFixed(2)).join(', ') : '';
  const rate = Math.round(r.receivers / (r.median / 1000));
  const cpu = median(r.cpu);
  const cpuRatio = base ? `${(cpu / median(base.cpu)).toFixed(2)}x` : '';
  console.log(
    `| ${r.name} | ${r.sessions} | ${r.receivers} | ${r.last.length} | ${r.median.toFixed(2)} | ${r.p95.toFixed(2)} | ${r.firstMedian.toFixed(2)} | ${rate.toLocaleString('en-US')} | ${ratio} | ${perRound} | ${cpu.toFixed(2)} | ${cpuRatio} |`,
  );
}
const selective = results.find((r) => r.name.startsWith('switchboard selective'));
const cpuOf = (r) => median(r.cpu).toFixed(2);
const full = results.find((r) => r.kind === 'switchboard' && r.sessions === opt.selective && r.receivers === opt.selective);
const small = results.find((r) => r.name.startsWith('switchboard small'));
console.log(
  `\nselectivity: ${opt.share} receivers among ${opt.selective} sessions: median ${selective.median.toFixed(2)} ms, server CPU ${cpuOf(selective)} ms/event` +
    (small ? `; ${(selective.median / small.median).toFixed(2)}x the ${opt.share}-sessions-only case (CPU ${cpuOf(small)})` : '') +
    (full ? `; ${(selective.median / full.median).toFixed(3)}x the all-${opt.selective}-receive case (CPU ${cpuOf(full)})` : ''),
);
process.exit(0);
