/**
 * What the revocation check of a connect storm costs, on a single Redis and on a Redis
 * Cluster (3 masters, 3 replicas), both started here on loopback ports.
 *
 * A storm: `--checks` subscribes arriving `--per-turn` per turn of the event loop, each
 * checking two marker keys (login and subject), 1 % of the users deleted. Ways of reading
 * the markers, each in the same run:
 *   mget-batch        the previous version: the checks of one turn in one MGET (<= 512 keys),
 *                     keys spread over slots (CROSSSLOT in a cluster: single Redis only)
 *   shipped           src/auth/revocations.ts as built (dist/): the same batching, the marker
 *                     `~since` first, every key under one hash tag in a cluster
 *   mget-by-slot      the same batching, keys spread over slots, one MGET per slot
 *   get-autopipeline  one GET per key, ioredis auto-pipelining (one write per node and turn)
 *   get               one GET per key, no pipelining
 * Per way: the storm's wall time, the client's CPU, the Redis servers' CPU (INFO cpu, every
 * node) and commands, each check's latency; medians of `--reps` runs, and ratios to
 * mget-batch on the single Redis.
 *
 *   npm run build && node bench/revocation-check.mjs [--checks 20000] [--per-turn 50] [--reps 5]
 */
import { Cluster, Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setImmediate, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { args, machine, median, percentile, printMachine } from './lib/common.mjs';
import { ClusterTopology, RedisProcess, freePort, redisCall } from '../test/support/redis-topology.mjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const opt = args({ checks: 20000, 'per-turn': 50, reps: 5 });
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const { Logger } = await import('@nestjs/common');
Logger.overrideLogger(false); // the shipped class logs its rebuilds; not part of the figures
const { Revocations } = await import(`${DIST}auth/revocations.js`);
const { loadConfig } = await import(`${DIST}config/config.js`);
const { RedisConnections } = await import(`${DIST}redis/redis-connections.js`);

const MAX_BATCH_KEYS = 512;
const run = randomUUID().slice(0, 8);
const users = Array.from({ length: opt.checks }, (_, i) => ({ login: `${run}-user-${i}`, subject: `${run}-uuid-${i}` }));
const deleted = new Set(users.filter((_, i) => i % 100 === 7).map((u) => u.login));

/** The checks of one turn in one batch (at most MAX_BATCH_KEYS keys), as Revocations reads. */
function batched(send) {
  let batch;
  return (keys) => {
    if (!batch || batch.keys.length + keys.length > MAX_BATCH_KEYS) {
      const next = { keys: [] };
      next.values = new Promise((resolve) =>
        setImmediate(() => {
          if (batch === next) batch = undefined;
          resolve(send(next.keys));
        }),
      );
      batch = next;
    }
    const from = batch.keys.length;
    batch.keys.push(...keys);
    return batch.values.then((values) => values.slice(from, from + keys.length));
  };
}

/** One MGET per slot, answers put back in the keys' order. */
async function mgetBySlot(redis, keys) {
  const bySlot = new Map();
  keys.forEach((key, i) => {
    const slot = calculateSlot(key);
    if (!bySlot.has(slot)) bySlot.set(slot, []);
    bySlot.get(slot).push(i);
  });
  const values = new Array(keys.length);
  await Promise.all(
    [...bySlot.values()].map(async (indexes) => {
      const got = await redis.mget(indexes.map((i) => keys[i]));
      indexes.forEach((i, j) => (values[i] = got[j]));
    }),
  );
  return values;
}

/** A way of checking: `check(user)` answers whether the user is deleted; `close()`. */
async function way(name, mode, env) {
  const prefix = 'switchboard:revoked:';
  const legacy = (u) => [`${prefix}user:${u.login}`, `${prefix}subject:${u.subject}`];
  const open = (extra = {}) => (mode === 'cluster' ? new Cluster(env.nodes, { ...extra }) : new Redis(env.url, extra));
  if (name === 'shipped') {
    const config = loadConfig({ ...env.vars, LOG_LEVEL: 'silent' });
    const connections = new RedisConnections(config);
    const revocations = new Revocations(config, connections);
    const iat = Math.floor(Date.now() / 1000) - 60;
    const check = (u) => revocations.isRevoked({ user: u.login, subject: u.subject, profile: 'standard', roles: [], workspaces: [], subjects: [], iat });
    return { check, close: () => (revocations.onModuleDestroy(), connections.onApplicationShutdown()), seed: (u) => revocations.revoke({ login: u }) };
  }
  const redis = open(name === 'get-autopipeline' ? { enableAutoPipelining: true } : {});
  const read = {
    'mget-batch': batched((keys) => redis.mget(keys)),
    'mget-by-slot': batched((keys) => mgetBySlot(redis, keys)),
    'get-autopipeline': (keys) => Promise.all(keys.map((k) => redis.get(k))),
    get: (keys) => Promise.all(keys.map((k) => redis.get(k))),
  }[name];
  return {
    check: async (u) => (await read(legacy(u))).some((v) => v !== null),
    close: () => redis.quit(),
    seed: (login) => redis.set(`${prefix}user:${login}`, String(Date.now()), 'PX', 600_000),
  };
}

/** CPU seconds and commands of every Redis node. */
async function serverCounters(ports) {
  let cpu = 0;
  let commands = 0;
  for (const port of ports) {
    const info = String(await redisCall(port, 'INFO', 'all'));
    const field = (name) => Number(info.match(new RegExp(`^${name}:([0-9.]+)`, 'm'))?.[1] ?? 0);
    cpu += field('used_cpu_sys') + field('used_cpu_user');
    commands += field('total_commands_processed');
  }
  return { cpu, commands };
}

/** One storm: every check started `per-turn` per turn; answers the figures. */
async function storm(w, ports) {
  const before = await serverCounters(ports);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const latencies = new Array(users.length);
  const answers = new Array(users.length);
  const pending = [];
  for (let i = 0; i < users.length; i += opt['per-turn']) {
    for (let j = i; j < Math.min(users.length, i + opt['per-turn']); j++) {
      const start = performance.now();
      pending.push(w.check(users[j]).then((a) => ((answers[j] = a), (latencies[j] = performance.now() - start))));
    }
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = await serverCounters(ports);
  const wrong = answers.filter((a, i) => a !== deleted.has(users[i].login)).length;
  if (wrong) throw new Error(`${wrong} wrong answers`);
  return {
    wallMs: wall,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
    redisCpuMs: (after.cpu - before.cpu) * 1000,
    commands: after.commands - before.commands,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function topologies() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-redis-'));
  const single = await RedisProcess.start(port, dir);
  const cluster = await ClusterTopology.start();
  const masters = [];
  for (const slot of [0, 8192, 16383]) masters.push((await cluster.masterOf(slot)).port);
  return {
    single: { url: `redis://127.0.0.1:${port}`, vars: { REDIS_URL: `redis://127.0.0.1:${port}` }, ports: [port], stop: async () => (await single.kill(), rmSync(dir, { recursive: true, force: true })) },
    cluster: { nodes: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), vars: cluster.env, ports: masters, stop: () => cluster.stop() },
  };
}

const m = machine();
printMachine(m);
console.log(`storm: ${opt.checks} checks (2 keys each), ${opt['per-turn']} per event-loop turn, 1 % deleted; ${opt.reps} runs per way, medians`);
const t = await topologies();
const plan = [
  ['single', 'mget-batch'],
  ['single', 'shipped'],
  ['single', 'get-autopipeline'],
  ['cluster', 'shipped'],
  ['cluster', 'mget-by-slot'],
  ['cluster', 'get-autopipeline'],
  ['cluster', 'get'],
];
const results = [];
try {
  const ways = [];
  for (const [mode, name] of plan) {
    const w = await way(name, mode, t[mode]);
    for (const login of deleted) await w.seed(login);
    await w.check(users[0]); // connected, and (shipped) past the first settle of a new Redis
    await new Promise((r) => setTimeout(r, name === 'shipped' ? 1000 : 100));
    await w.check(users[0]);
    ways.push({ mode, name, w, runs: [] });
  }
  // Interleaved repetitions: the machine's drift spreads over every way alike.
  for (let rep = 0; rep < opt.reps; rep++) for (const entry of ways) entry.runs.push(await storm(entry.w, t[entry.mode].ports));
  for (const { mode, name, w, runs } of ways) {
    await w.close();
    const med = Object.fromEntries(Object.keys(runs[0]).map((k) => [k, median(runs.map((r) => r[k]))]));
    results.push({ mode, name, ...med });
  }
} finally {
  await t.single.stop();
  await t.cluster.stop();
}
const base = results[0];
const f = (x, d = 1) => x.toFixed(d);
console.log('\n| Redis | way | wall ms | client CPU ms | Redis CPU ms | commands | check p50 ms | check p99 ms | client CPU vs mget-batch | Redis CPU vs mget-batch |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(
    `| ${r.mode} | ${r.name} | ${f(r.wallMs)} | ${f(r.clientCpuMs)} | ${f(r.redisCpuMs)} | ${Math.round(r.commands)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(r.clientCpuMs / base.clientCpuMs, 2)} | ${f(r.redisCpuMs / base.redisCpuMs, 2)} |`,
  );
}
console.log(`\nper check (client CPU µs): ${results.map((r) => `${r.mode}/${r.name} ${f((r.clientCpuMs * 1000) / opt.checks)}`).join(', ')}`);
process.exit(0);
