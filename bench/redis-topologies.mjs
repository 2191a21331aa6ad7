/**
 * The same workload against Switchboard on three Redis topologies, each started here on free
 * loopback ports (test/support/redis-topology.mjs):
 *
 *   single            one redis-server (REDIS_URL)
 *   cluster           a Redis Cluster, 3 masters + 3 replicas (REDIS_CLUSTER_NODES); the backend PUBLISHes
 *   cluster-spublish  the same cluster; the backend SPUBLISHes on the same channel (README: "Spread the
 *                     pub/sub load on a cluster")
 *   sentinel          1 master, 1 replica, 3 sentinels (REDIS_SENTINELS, REDIS_SENTINEL_NAME); the backend
 *                     finds the master through the sentinels
 *
 * Per topology and round: --instances service instances (2; `node dist/main.js`, fresh processes),
 * --sessions sessions (2,000) spread over them, one per instance in each workspace; a backend
 * publishes node events on the tree channel as Cells does, each to the next workspace (one receiver
 * on each instance; every instance sees every event). Then:
 *
 *   warm-up     --warmup events, closed loop
 *   idle        --idle-seconds with the sessions open and no event: CPU per second (services, Redis)
 *   fixed rate  for each of --rate (200; a list: 100,1000,5000), --rate-seconds (15) of events at that
 *               rate, each sent on its schedule whether or not the previous ones arrived: PUBLISH to
 *               last receipt p50 / p99, service CPU per event (sum over the instances), Redis CPU per
 *               event (sum over the topology's redis-server processes, sentinels included, and its
 *               busiest one); each also net of the idle phase's CPU per second
 *   no audience at each of --no-audience (default: the first --rate; 0: none), --rate-seconds of
 *               events to workspaces nobody holds, then one barrier event to every instance: CPU
 *               per event before it has an audience, and whether the instances kept up (the
 *               barrier's delay); with --extra-subscribers K (single, sentinel) each again with K
 *               more subscribers (redis-cli) of the event and feed channels: what Redis pays per
 *               event for K more instances
 *   closed loop --loop-events with --inflight in flight (a new one as soon as one arrived at every
 *               receiver): events/s at saturation, and the same CPU figures
 *
 * CPU of a process: every thread's time on a CPU from /proc/<pid>/task/<tid>/schedstat (what
 * /proc/<pid>/stat counts as utime + stime, in ns rather than 10 ms ticks; /proc/<pid>/stat where
 * the kernel has no schedstat), read before and after each phase; idle time inside a phase is
 * counted (the idle row says how much). Every receipt is counted: after each run the clients must
 * have received exactly the expected number of event frames (a session that got an event it must
 * not see stops the run).
 * Rounds are interleaved (the order of the topologies rotates each round); the tables give medians
 * over the rounds with their min-max, and ratios to the single Redis of the same run. The machine's
 * background load (other processes, from /proc) is recorded per run.
 *
 * Keys: each run uses a history key and channels of its own, deleted (SCAN + DEL on every master)
 * when the run ends; the Redis processes and their directories go at the end, on failure and on
 * SIGINT too.
 *
 *   npm run build && node bench/redis-topologies.mjs [--rounds 3] [--sessions 2000] [--rate 200]
 *       [--rate-seconds 15] [--no-audience RATES] [--extra-subscribers 0] [--loop-events 4000] [--inflight 64] [--warmup 300]
 *       [--idle-seconds 3] [--instances 2]
 *       [--topologies single,cluster,cluster-spublish,sentinel] [--json FILE]
 */
import { JwtService } from '@nestjs/jwt';
import { Cluster, Redis } from 'ioredis';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { Background } from './lib/background.mjs';
import { Child, args, benchChannels, clockCheck, machine, median, percentile, serviceEnv, sleep } from './lib/common.mjs';
import { ClusterTopology, SentinelTopology, SingleTopology, freePort, until } from '../test/support/redis-topology.mjs';

const opt = args({
  topologies: 'single,cluster,cluster-spublish,sentinel',
  rounds: 3,
  sessions: 2000,
  instances: 2,
  rate: '200',
  'rate-seconds': 15,
  'no-audience': '',
  'extra-subscribers': 0,
  'loop-events': 4000,
  inflight: 64,
  warmup: 300,
  'idle-seconds': 3,
  json: '',
});
const VARIANTS = opt.topologies.split(',');
const RATES = String(opt.rate).split(',').map(Number);
/** Rates of the no-audience phases: the first fixed rate unless told (0: none). */
const SILENT_RATES = String(opt['no-audience'] || RATES[0]).split(',').map(Number).filter((r) => r > 0);
const KNOWN = ['single', 'cluster', 'cluster-spublish', 'sentinel'];
for (const v of VARIANTS) if (!KNOWN.includes(v)) throw new Error(`unknown topology ${v}; known: ${KNOWN.join(', ')}`);
const EXTRA = opt['extra-subscribers'];
if (EXTRA && VARIANTS.some((v) => v.startsWith('cluster'))) throw new Error('--extra-subscribers: single and sentinel only (a cluster spreads its subscribers over shards)');
const INSTANCES = opt.instances;
if (INSTANCES < 1 || opt.sessions < INSTANCES || opt.sessions % INSTANCES) throw new Error('--sessions must be a multiple of --instances (one session per instance per workspace)');
const LABEL = {
  single: 'single Redis',
  cluster: 'Cluster 3+3, backend PUBLISH',
  'cluster-spublish': 'Cluster 3+3, backend SPUBLISH',
  sentinel: 'Sentinel (1+1, 3 sentinels)',
};
const TOPOLOGY_OF = { single: 'single', cluster: 'cluster', 'cluster-spublish': 'cluster', sentinel: 'sentinel' };
const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const TICK_MS = 10; // USER_HZ 100: /proc times are in 1/100 s
const log = (...a) => console.error(...a);

const SECRET = 'bench-' + randomBytes(6).toString('hex');
const jwt = new JwtService({ secret: SECRET });
const { tag, env: channelEnv } = benchChannels();
const TREE = channelEnv.CHANNEL_TREE;
const WORKSPACES = opt.sessions / INSTANCES;

const workspace = (k) => ({ uuid: `w-other-${k}`, slug: `other-${k}`, label: `Other ${k}`, roots: [{ uuid: `r-other-${k}`, path: `pydiods1/other-${k}` }] });
/** Session i: user i in workspace i / INSTANCES, on instance i % INSTANCES. */
const tokens = Array.from({ length: opt.sessions }, (_, i) =>
  jwt.sign({ sub: `uuid-user-${i}`, name: `user-${i}`, profile: 'standard', roles: ['ROOT_GROUP'], workspaces: [workspace(Math.floor(i / INSTANCES))] }, { expiresIn: 7200 }),
);
/** What Cells publishes when a file is deleted; the uuid carries the event number for the clients. */
const nodeEvent = (id, k) =>
  JSON.stringify({ Type: 'DELETE', Source: { Uuid: `bench-${tag}-${id}`, Path: `pydiods1/other-${k}/file-${id}.txt`, Type: 'LEAF', Size: '1', MetaStore: { name: JSON.stringify(`file-${id}.txt`) } } });

/**
 * CPU time (ms) of `pid` so far, every thread: the sum of /proc/<pid>/task/<tid>/schedstat (ns on
 * a CPU: the time /proc/<pid>/stat counts as utime + stime, without its 10 ms ticks), or utime +
 * stime of /proc/<pid>/stat where the kernel keeps no schedstat. 0 once the process is gone.
 */
const SCHEDSTAT = existsSync('/proc/self/schedstat');
function cpuMs(pid) {
  try {
    if (!SCHEDSTAT) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) * TICK_MS;
    }
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread just ended
      }
    }
    return ns / 1e6;
  } catch {
    return 0;
  }
}
const cpuOf = (pids) => pids.map(cpuMs);
const delta = (a, b) => b.map((x, i) => x - a[i]);
const sum = (xs) => xs.reduce((s, x) => s + x, 0);

// ---------------------------------------------------------------------------------------------
// Processes: the topologies, two client processes, the service instances. Whatever happens, they
// are stopped: the process 'exit' handler (also reached on SIGINT through lib/common.mjs) kills
// what is still running and removes the topologies' directories.

const topologies = {};
const services = new Set();
process.on('exit', () => {
  for (const s of services) s.killNow();
  for (const t of Object.values(topologies)) t.topology.stopNow();
});

/** One service instance: `node dist/main.js` with `env`, ready when /readyz answers 200. */
class Instance {
  static async start(env, name) {
    const port = await freePort();
    const { NODE_OPTIONS: _o, REDIS_URL: _r, ...parentEnv } = process.env;
    const proc = spawn(process.execPath, [MAIN], { env: { ...parentEnv, ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const instance = new Instance(proc, port, name);
    services.add(instance);
    try {
      await until(`${name} ready`, async () => {
        if (instance.exit) throw new Error(`${name} exited (${instance.exit}): ${instance.tail.join('\n')}`);
        return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
      }, 30_000);
    } catch (err) {
      await instance.stop();
      throw new Error(`${err.message}\n${instance.tail.join('\n')}`, { cause: err });
    }
    return instance;
  }

  constructor(proc, port, name) {
    this.proc = proc;
    this.pid = proc.pid;
    this.port = port;
    this.name = name;
    this.tail = [];
    const keep = (d) => {
      this.tail.push(...String(d).split('\n').filter(Boolean));
      this.tail.splice(0, Math.max(0, this.tail.length - 20));
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve((this.exit = code ?? signal))));
  }

  get url() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  killNow() {
    if (this.exit === undefined) this.proc.kill('SIGKILL');
  }

  /** SIGTERM, SIGKILL after 5 s. */
  async stop() {
    if (this.exit === undefined) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
    services.delete(this);
  }
}

/** A topology with its backend (the publisher) and the masters whose keys a run deletes. */
async function startTopology(name) {
  const topology = await (name === 'single' ? SingleTopology : name === 'cluster' ? ClusterTopology : SentinelTopology).start();
  let backend;
  if (name === 'single') backend = new Redis(topology.url, { maxRetriesPerRequest: 1 });
  else if (name === 'sentinel') backend = new Redis({ sentinels: topology.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), name: SentinelTopology.NAME, maxRetriesPerRequest: 1 });
  else backend = new Cluster(topology.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
  backend.on('error', () => undefined);
  await until(`${name}: the backend connected`, async () => backend.status === 'ready');
  const masters = async () => (name === 'single' ? [topology.node] : name === 'sentinel' ? [await topology.master()] : await topology.masters());
  return { name, topology, backend, masters, pids: topology.processes.map((p) => p.pid), ports: topology.processes.map((p) => p.port) };
}

/** Deletes every key of the servers that matches `pattern` (SCAN on every master); answers how many. */
async function deleteKeys(t, pattern) {
  let deleted = 0;
  for (const node of await t.masters()) {
    let cursor = '0';
    do {
      const [next, keys] = await node.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000);
      for (const key of keys) deleted += Number(await node.call('DEL', key));
      cursor = next;
    } while (cursor !== '0');
  }
  return deleted;
}

/** Every key on the topology's masters, by name (at most 20). */
async function keysLeft(t) {
  const names = [];
  for (const node of await t.masters()) names.push(...(await node.call('SCAN', '0', 'COUNT', 1000))[1]);
  return names.slice(0, 20);
}

// ---------------------------------------------------------------------------------------------
// The clients: two processes (from 127.0.0.2 and .3); process k holds the sessions of the
// instances j with j % 2 === k (with two instances: A's on process 0, B's on process 1).

const procs = [0, 1].map((k) => new Child('clients.mjs', [], { name: `clients-${k}` }));
/** Receipts of one event per client process: one per instance it holds sessions of. */
const PER_PROC = [0, 1].map((k) => Array.from({ length: INSTANCES }, (_, j) => j).filter((j) => j % 2 === k).length);
await Promise.all(procs.map((p) => p.once('ready')));
const waiters = procs.map(() => new Map());
procs.forEach((p, k) => p.on('done', (msg) => waiters[k].get(msg.id)?.(msg)));

let nextId = 0;

/**
 * One event to workspace `k` (one receiver on each instance): answers ms from just before the
 * publish to the last receipt. `expect` goes over IPC unawaited: the clients accept it before or
 * after the receipts.
 */
async function oneEvent(run, k) {
  const id = ++nextId;
  const done = procs.map((_, j) => (PER_PROC[j] ? new Promise((resolve) => waiters[j].set(id, resolve)) : undefined));
  procs.forEach((p, j) => PER_PROC[j] && p.proc.send({ cmd: 'expect', id, count: PER_PROC[j] }));
  let timer;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${run.variant}: event ${id} not received by every instance's session in 15 s`)), 15_000)));
  const t0 = process.hrtime.bigint();
  await run.publish(nodeEvent(id, k));
  try {
    const reports = (await Promise.race([Promise.all(done), late])).filter(Boolean);
    return Number(reports.reduce((m, r) => (r.last > m ? r.last : m), 0n) - t0) / 1e6;
  } finally {
    clearTimeout(timer);
    waiters.forEach((w) => w.delete(id));
  }
}

/** CPU of the services and of the topology's Redis processes over `fn()`. */
async function metered(run, fn) {
  const s0 = cpuOf(run.servicePids);
  const r0 = cpuOf(run.redisPids);
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const service = delta(s0, cpuOf(run.servicePids));
  const redis = delta(r0, cpuOf(run.redisPids));
  return { value, seconds, serviceMs: sum(service), redisMs: sum(redis), redisPerProcessMs: redis };
}

/** `count` events, `inflight` at a time. */
async function closedLoop(run, count, inflight) {
  const latencies = [];
  let left = count;
  let k = 0;
  const worker = async () => {
    while (left-- > 0) latencies.push(await oneEvent(run, k++ % WORKSPACES));
  };
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker));
  return latencies;
}

/**
 * `count` events at `rate` per second, each on its schedule whether or not the previous ones
 * arrived: at each timer tick (about 1 ms) every event due by then is sent. `send(i)` answers a
 * promise (the event's latency, or the publish).
 */
async function onSchedule(count, rate, send) {
  const interval = 1000 / rate;
  const start = performance.now();
  const pending = [];
  for (let i = 0; i < count; ) {
    const due = Math.min(count, Math.floor((performance.now() - start) / interval) + 1);
    while (i < due) pending.push(send(i++));
    if (i < count) await sleep(Math.max(0, start + i * interval - performance.now()));
  }
  const values = await Promise.all(pending);
  return { values, achieved: count / ((performance.now() - start) / 1000) };
}

/** Events to workspaces, one receiver on each instance, on schedule. */
async function fixedRate(run, count, rate) {
  const { values, achieved } = await onSchedule(count, rate, (i) => oneEvent(run, i % WORKSPACES));
  return { latencies: values, achieved };
}

/**
 * Events to a workspace no session holds, on schedule, then one event to every instance as a
 * barrier: each instance delivers in the history's order, so once the barrier arrived every
 * event before it has been handled. What an event costs before it has an audience.
 */
async function noAudience(run, count, rate) {
  const { achieved } = await onSchedule(count, rate, (i) => run.publish(nodeEvent(++nextId, `nobody-${i}`)));
  const drainMs = await oneEvent(run, 0);
  return { achieved, drainMs };
}

/**
 * `count` more subscribers of what an instance subscribes for events (the tree channel and the
 * history's feed), on the master: `redis-cli SUBSCRIBE`, output thrown away. What Redis pays per
 * event for each more instance. Answers a function that stops them.
 */
async function extraSubscribers(t, historyKey, count) {
  const [master] = await t.masters();
  const procs = Array.from({ length: count }, () => {
    const proc = spawn('redis-cli', ['-p', String(master.port), 'SUBSCRIBE', TREE, `${historyKey}:feed`], { stdio: 'ignore' });
    const handle = { killNow: () => proc.exitCode === null && proc.kill('SIGKILL') };
    services.add(handle);
    return { proc, handle };
  });
  await until('the extra subscribers', async () => {
    const [, n] = await master.call('PUBSUB', 'NUMSUB', TREE);
    return Number(n) >= count;
  });
  return async () => {
    for (const { proc, handle } of procs) {
      handle.killNow();
      if (proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc.once('exit', r));
      services.delete(handle);
    }
  };
}

/** Resident memory (MiB) of `pid`, from /proc/<pid>/status. */
function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function markedFrames() {
  const stats = await Promise.all(procs.map((p) => p.call('stats')));
  const closed = stats.reduce((n, s) => n + s.closedEarly, 0);
  if (closed) throw new Error(`${closed} sockets closed: ${JSON.stringify(stats.map((s) => s.closeCodes))}`);
  return stats.reduce((n, s) => n + s.marked, 0);
}

async function runOne(variant, round, background) {
  const t = topologies[TOPOLOGY_OF[variant]];
  const historyKey = `bench:${tag}:r${round}:${variant}:history`;
  const env = serviceEnv(SECRET, {
    ...t.topology.env,
    ...channelEnv,
    HISTORY_KEY: historyKey,
    LOG_LEVEL: 'error',
    // Nothing may pace the bench: flow control and the inbound frame limit.
    SESSION_RATE: '100000',
    SESSION_BURST: '100000',
    CLIENT_FRAME_RATE: '100000',
    CLIENT_FRAME_BURST: '100000',
    PING_INTERVAL_MS: '600000',
    SHUTDOWN_GRACE_MS: '1000',
  });
  const sharded = variant === 'cluster-spublish';
  const run = {
    variant,
    publish: sharded ? (msg) => t.backend.spublish(TREE, msg) : (msg) => t.backend.publish(TREE, msg),
    redisPids: t.pids,
  };
  const instances = [];
  const out = { variant, round };
  try {
    for (let j = 0; j < INSTANCES; j++) instances.push(await Instance.start(env, `${variant}#${round}-${String.fromCharCode(65 + j)}`));
    run.servicePids = instances.map((i) => i.pid);
    out.rss = { readyMb: median(run.servicePids.map(rssMb)) };
    for (const i of instances) background.track(i.pid);
    const bg = background.start();
    // Session i on instance i % INSTANCES, from client process (i % INSTANCES) % 2.
    const opened = await Promise.all(
      [0, 1].map(async (k) => {
        const replies = [];
        for (let j = k; j < INSTANCES; j += 2) {
          const frames = tokens.filter((_, i) => i % INSTANCES === j).map((jwt) => JSON.stringify({ '@type': 'subscribe', jwt }));
          replies.push(await procs[k].call('open', { url: instances[j].url, frames, ackMatch: '"@type":"subscribed"', concurrency: 50, localAddress: `127.0.0.${k + 2}` }, 300_000));
        }
        return replies;
      }),
    ).then((r) => r.flat());
    const failed = opened.reduce((n, r) => n + r.failed, 0);
    if (failed) throw new Error(`${variant}: ${failed} sessions failed: ${opened.find((r) => r.failed).firstError}`);
    out.rss.openMb = median(run.servicePids.map(rssMb));
    const frames0 = await markedFrames();
    let expected = 0;
    await closedLoop(run, opt.warmup, 16);
    expected += opt.warmup;

    const idle = await metered(run, () => sleep(opt['idle-seconds'] * 1000));
    out.idle = { serviceMsPerS: idle.serviceMs / idle.seconds, redisMsPerS: idle.redisMs / idle.seconds };

    out.fixed = {};
    for (const rate of RATES) {
      const n = Math.round(rate * opt['rate-seconds']);
      const fixed = await metered(run, () => fixedRate(run, n, rate));
      expected += n;
      const f = (out.fixed[rate] = {
        events: n,
        achieved: fixed.value.achieved,
        p50: median(fixed.value.latencies),
        p99: percentile(fixed.value.latencies, 99),
        serviceMs: fixed.serviceMs / n,
        redisMs: fixed.redisMs / n,
        // What the same seconds would have cost with no event (the idle phase's rate): the events' own cost.
        serviceNetMs: (fixed.serviceMs - out.idle.serviceMsPerS * fixed.seconds) / n,
        redisNetMs: (fixed.redisMs - out.idle.redisMsPerS * fixed.seconds) / n,
        redisBusiestMs: Math.max(...fixed.redisPerProcessMs) / n,
        redisPerProcessMs: fixed.redisPerProcessMs.map((x) => x / n),
        seconds: fixed.seconds,
      });
      log(
        `  fixed ${rate}/s (${f.achieved.toFixed(0)}/s achieved): p50 ${f.p50.toFixed(2)} p99 ${f.p99.toFixed(2)} ms; service ${f.serviceMs.toFixed(3)} ms/event (net ${f.serviceNetMs.toFixed(3)}), redis ${f.redisMs.toFixed(3)} ms/event (net ${f.redisNetMs.toFixed(3)}, busiest ${f.redisBusiestMs.toFixed(3)})`,
      );
    }
    out.silent = {};
    out.extra = {};
    for (const rate of SILENT_RATES) {
      const n = Math.round(rate * opt['rate-seconds']);
      const silent = await metered(run, () => noAudience(run, n, rate));
      expected += 1;
      const f = (out.silent[rate] = {
        events: n,
        achieved: silent.value.achieved,
        drainMs: silent.value.drainMs,
        serviceMs: silent.serviceMs / n,
        serviceNetMs: (silent.serviceMs - out.idle.serviceMsPerS * silent.seconds) / n,
        serviceCoresPerInstance: silent.serviceMs / 1000 / silent.seconds / INSTANCES,
        redisMs: silent.redisMs / n,
        redisNetMs: (silent.redisMs - out.idle.redisMsPerS * silent.seconds) / n,
        redisBusiestCores: Math.max(...silent.redisPerProcessMs) / 1000 / silent.seconds,
      });
      log(
        `  no audience ${rate}/s (${f.achieved.toFixed(0)}/s sent, barrier ${f.drainMs.toFixed(1)} ms after): service ${f.serviceMs.toFixed(3)} ms/event (net ${f.serviceNetMs.toFixed(3)}, ${f.serviceCoresPerInstance.toFixed(2)} cores per instance), redis ${f.redisMs.toFixed(3)} ms/event (net ${f.redisNetMs.toFixed(3)})`,
      );
    }
    if (EXTRA) {
      const stop = await extraSubscribers(t, historyKey, EXTRA);
      try {
        for (const rate of SILENT_RATES) {
          const n = Math.round(rate * opt['rate-seconds']);
          const silent = await metered(run, () => noAudience(run, n, rate));
          expected += 1;
          out.extra[rate] = { redisNetMs: (silent.redisMs - out.idle.redisMsPerS * silent.seconds) / n, redisBusiestCores: Math.max(...silent.redisPerProcessMs) / 1000 / silent.seconds, drainMs: silent.value.drainMs };
          log(`  no audience ${rate}/s, ${EXTRA} more subscribers: redis ${out.extra[rate].redisNetMs.toFixed(3)} ms/event net, busiest ${out.extra[rate].redisBusiestCores.toFixed(2)} cores`);
        }
      } finally {
        await stop();
      }
    }

    const m = opt['loop-events'];
    const loop = await metered(run, () => closedLoop(run, m, opt.inflight));
    expected += m;
    out.loop = {
      events: m,
      perS: m / loop.seconds,
      p50: median(loop.value),
      p99: percentile(loop.value, 99),
      serviceMs: loop.serviceMs / m,
      redisMs: loop.redisMs / m,
      redisBusiestMs: Math.max(...loop.redisPerProcessMs) / m,
      serviceCores: loop.serviceMs / 1000 / loop.seconds,
      redisCores: loop.redisMs / 1000 / loop.seconds,
    };
    log(
      `  closed loop (${opt.inflight} in flight): ${out.loop.perS.toFixed(0)} events/s, service ${out.loop.serviceMs.toFixed(3)} ms/event (${out.loop.serviceCores.toFixed(2)} cores), redis ${out.loop.redisMs.toFixed(3)} ms/event (${out.loop.redisCores.toFixed(2)} cores)`,
    );

    // Every receipt was expected: one receiver per instance per event, nobody else.
    await sleep(100);
    const extra = (await markedFrames()) - frames0 - INSTANCES * expected;
    if (extra !== 0) throw new Error(`${variant}: ${extra} event frames received beyond the expected (delivered to sessions that must not see the event?)`);
    out.background = background.stop(bg);
    log(`  background: loadavg ${out.background.loadavg}, other processes ${out.background.othersCores.toFixed(2)} cores`);
    return out;
  } finally {
    await Promise.all(procs.map((p) => p.call('close', {}, 60_000).catch(() => undefined)));
    for (const i of instances) {
      await i.stop();
      background.untrack(i.pid);
    }
    // What the run wrote: its history (stream, epoch, lease...) and anything else of the service.
    out.keysDeleted = await deleteKeys(t, `*bench:${tag}:r${round}:${variant}:history*`).catch(() => -1);
  }
}

// ---------------------------------------------------------------------------------------------

const m = machine();
const started = Date.now();
const results = [];
let keysAtEnd;
try {
  for (const name of new Set(VARIANTS.map((v) => TOPOLOGY_OF[v]))) {
    const t0 = Date.now();
    topologies[name] = await startTopology(name);
    log(`${name}: started in ${Date.now() - t0} ms (redis-server pids ${topologies[name].pids.join(', ')})`);
  }
  const clock = await clockCheck(procs);
  log(`clock check: ${clock.min.toFixed(3)}..${clock.max.toFixed(3)} ms (>= 0: one clock)`);
  // "Redis" is the topologies started here (all of them: the idle ones run meanwhile too);
  // "other processes" is what neither this bench nor its Redis processes use.
  const background = new Background([process.pid, ...procs.map((p) => p.proc.pid)], Object.values(topologies).flatMap((t) => t.pids));
  for (let round = 1; round <= opt.rounds; round++) {
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round - 1) % VARIANTS.length]);
    for (const variant of order) {
      log(`round ${round} ${variant}`);
      results.push(await runOne(variant, round, background));
    }
  }
  // Keys the service writes outside its history key (revocation markers...): counted, then deleted.
  keysAtEnd = {};
  for (const t of Object.values(topologies)) {
    const left = await keysLeft(t);
    keysAtEnd[t.name] = { left, deleted: left.length ? await deleteKeys(t, '*') : 0 };
    keysAtEnd[t.name].after = (await keysLeft(t)).length;
  }
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  for (const s of [...services]) await s.stop();
  for (const t of Object.values(topologies)) {
    t.backend.disconnect();
    await t.topology.stop();
  }
}
const durationS = (Date.now() - started) / 1000;

// ---------------------------------------------------------------------------------------------
// Report: medians over the rounds (min-max), ratios to the single Redis.

const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const stat = (variant, pick) => {
  const xs = results.filter((r) => r.variant === variant).map(pick);
  return { med: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
};
const all = INSTANCES === 1 ? 'the instance' : INSTANCES === 2 ? 'both instances' : `all ${INSTANCES} instances`;
const ROWS = [
  ...RATES.flatMap((rate) => {
    const phase = `fixed rate, ${rate}/s`;
    return [
      [phase, 'PUBLISH to last receipt p50 (ms)', (r) => r.fixed[rate].p50],
      [phase, 'p99 (ms)', (r) => r.fixed[rate].p99],
      [phase, `service CPU per event, ${all} (ms)`, (r) => r.fixed[rate].serviceMs],
      [phase, 'the same, net of idle (ms)', (r) => r.fixed[rate].serviceNetMs],
      [phase, 'Redis CPU per event, all its processes (ms)', (r) => r.fixed[rate].redisMs],
      [phase, 'the same, net of idle (ms)', (r) => r.fixed[rate].redisNetMs],
      [phase, 'Redis CPU per event, busiest process (ms)', (r) => r.fixed[rate].redisBusiestMs],
    ];
  }),
  ...SILENT_RATES.flatMap((rate) => {
    const phase = `no audience, ${rate}/s`;
    return [
      [phase, `service CPU per event, ${all}, net of idle (ms)`, (r) => r.silent[rate].serviceNetMs],
      [phase, 'service CPU per instance (cores)', (r) => r.silent[rate].serviceCoresPerInstance],
      [phase, 'Redis CPU per event, net of idle (ms)', (r) => r.silent[rate].redisNetMs],
      [phase, 'last PUBLISH to the barrier event received (ms)', (r) => r.silent[rate].drainMs],
      ...(EXTRA
        ? [
            [`${phase}, ${EXTRA} more subscribers`, 'Redis CPU per event, net of idle (ms)', (r) => r.extra[rate].redisNetMs],
            [`${phase}, ${EXTRA} more subscribers`, 'Redis busiest process (cores)', (r) => r.extra[rate].redisBusiestCores],
          ]
        : []),
    ];
  }),
  ['closed loop', 'events/s', (r) => r.loop.perS],
  ['closed loop', `service CPU per event, ${all} (ms)`, (r) => r.loop.serviceMs],
  ['closed loop', 'Redis CPU per event, all its processes (ms)', (r) => r.loop.redisMs],
  ['closed loop', 'Redis CPU per event, busiest process (ms)', (r) => r.loop.redisBusiestMs],
  ['closed loop', 'PUBLISH to last receipt p50 (ms)', (r) => r.loop.p50],
  ['idle', `service CPU, ${all} (ms per s)`, (r) => r.idle.serviceMsPerS],
  ['idle', 'Redis CPU, all its processes (ms per s)', (r) => r.idle.redisMsPerS],
  ['memory', 'RSS per instance, ready (MiB)', (r) => r.rss.readyMb],
  ['memory', `RSS per instance, ${opt.sessions / INSTANCES} sessions open (MiB)`, (r) => r.rss.openMb],
];
const lines = [];
const say = (s = '') => lines.push(s);
say(`date: ${m.date}`);
say(`machine: nproc=${m.nproc}, cpu="${m.cpu}", free -g: "${m.memory}", ${m.os}`);
say(`node: ${m.node}; source tree at start: ${m.commit}`);
say(`command: ${m.command}`);
say(
  `workload: ${opt.sessions} sessions over ${INSTANCES} instance${INSTANCES === 1 ? '' : 's'} (${INSTANCES} per workspace, one on each instance), one receiver per instance per event; fixed rate ${RATES.join(', ')} events/s for ${opt['rate-seconds']} s each${SILENT_RATES.length ? `; to nobody at ${SILENT_RATES.join(', ')} events/s` : ''}; closed loop ${opt['loop-events']} events, ${opt.inflight} in flight; ${opt.rounds} rounds interleaved; duration ${Math.round(durationS)} s`,
);
say();
const compared = VARIANTS.includes('single') ? VARIANTS.filter((v) => v !== 'single') : [];
const row = (cells) => `| ${cells.join(' | ')} |`;
say(row(['phase', 'figure', ...VARIANTS.map((v) => LABEL[v]), ...compared.map((v) => `${LABEL[v]} vs single`)]));
say(row(['---', '---', ...[...VARIANTS, ...compared].map(() => '---:')]));
for (const [phase, name, pick] of ROWS) {
  const cells = VARIANTS.map((v) => stat(v, pick));
  const ratios = compared.map((v) => `${(stat(v, pick).med / stat('single', pick).med).toFixed(2)}x`);
  say(row([phase, name, ...cells.map((c) => `${fmt(c.med)} (${fmt(c.min)}–${fmt(c.max)})`), ...ratios]));
}
say();
say('Background load, per run:');
say();
say('| round | topology | seconds | loadavg (start -> end) | other processes (cores) | the bench\'s redis-servers (cores) |');
say('|---:|---|---:|---|---:|---:|');
for (const r of results) say(`| ${r.round} | ${LABEL[r.variant]} | ${r.background.seconds.toFixed(0)} | ${r.background.loadavg} | ${r.background.othersCores.toFixed(2)} | ${r.background.redisCores.toFixed(2)} |`);
const others = results.map((r) => r.background.othersCores);
say();
say(`other processes: median ${median(others).toFixed(2)} cores, max ${Math.max(...others).toFixed(2)} cores, on a ${m.nproc}-core machine.`);
say(`rates achieved (fixed; no audience): ${results.map((r) => `${r.variant}#${r.round} ${RATES.map((rate) => r.fixed[rate].achieved.toFixed(0)).join('/')}; ${SILENT_RATES.map((rate) => r.silent[rate].achieved.toFixed(0)).join('/')}`).join(', ')}.`);
say(`keys: deleted per run ${results.map((r) => r.keysDeleted).join(', ')}; other keys left at the end, deleted: ${Object.entries(keysAtEnd ?? {}).map(([k, v]) => `${k} ${v.left.join(' ') || 'none'} (${v.after} after)`).join(', ')}.`);
console.log(lines.join('\n'));
if (opt.json) writeFileSync(opt.json, JSON.stringify({ machine: m, opt, durationS, results, keysAtEnd }, null, 2));
process.exit(0);
