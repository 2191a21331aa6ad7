/**
 * Switchboard against the floor (bare `ws` doing the same filtering, lib/floor.mjs) and against
 * Socket.IO 4.8 with @socket.io/redis-adapter (lib/socketio.mjs), on the same scenarios, in one run:
 *
 *   idle        heap and RSS per idle subscribed session, at each of --idle (5,000 then 15,000:
 *               the second size adds to the first; gc() before each reading), and the server's CPU
 *               per second of doing nothing with the last size open (after 2 s of settling), and
 *               with no session open (right after the warm-up)
 *   storm       --storm sockets connect and subscribe, --storm-concurrency in flight per client
 *               process: subscribes/s (sockets / wall time) and the p99 from connect to the ack
 *   fanout      one node event to every session, at each of --fanout (1,000 then 5,000): time
 *               from PUBLISH to each receipt (p50 / p99 / max of the last receipt) and server CPU per event
 *   throughput  at the first --fanout size: --burst events PUBLISHed back to back, deliveries/s
 *               actually received (first PUBLISH to the last receipt of the last event)
 *   selective   --receivers sessions that see the node among each of --selective (1,000 / 5,000 /
 *               10,000); the others hold workspaces rooted elsewhere: server CPU per event
 *   rate        --rate sessions, two per workspace; node events, each to another workspace (two
 *               receivers), in a closed loop of --rate-inflight in flight, --rate-events of them:
 *               server CPU per event under load, events/s, and PUBLISH to last receipt p50 / p99
 *   chat        one room of --chat members, one member posts: time to the last member's receipt,
 *               server CPU per message. Switchboard also: a push to a room of as many /ws sockets
 *               (the "push to the same sockets" baseline) and the JOIN phase (time, ROOM_UPDATEs).
 *
 * Every system runs the whole list on one fresh server process (started with --expose-gc), in
 * --reps repetitions, the order of the systems rotating each repetition (interleaved). Each
 * figure is computed per repetition; the tables give the median and the min-max of the
 * repetitions. Clients: --procs processes, process k connecting from 127.0.0.(k+2) (an address
 * has ~28k ephemeral ports, a process 20,000 files). Every wait has a time limit; a missing
 * delivery, a failed socket or a closed socket stops the run with an error.
 *
 * `--prof DIR` profiles the idle seconds, the storm, each fan-out, small-audience, chat and push phase (see
 * profile-summary.mjs); the profiler costs CPU, so profile in a separate run.
 *
 * Server CPU per event: the server's process.cpuUsage() read over IPC just before PUBLISH and
 * again just after the last receipt, summed over the events (the idle time between events is
 * not counted). The two IPC reads cost ~0.05 ms; the `ipc` figure is that cost measured alone.
 *
 * `--baseline DIR` adds the system `baseline`: Switchboard from another build (DIR: a copy of
 * dist/ built from the commit before a change), run interleaved with the others like a system
 * of its own, so that a change is judged against its baseline in the same run.
 *
 * `--check 1` (the smoke run, `npm run bench:smoke`): also connects one real socket.io-client to
 * the Socket.IO server (the clients here speak its wire protocol over plain `ws`: this proves they
 * speak it right), and fails unless every scenario produced every figure for every system.
 *
 *   npm run build && node bench/compare.mjs [--systems switchboard,floor,socketio] [--reps 3]
 *       [--only idle,storm,fanout,throughput,selective,chat] [--prof DIR] [--json FILE] [...sizes]
 */
import { JwtService } from '@nestjs/jwt';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import { Background } from './lib/background.mjs';
import { Child, args, benchChannels, clockCheck, deleteMatching, machine, median, percentile, printMachine, serviceEnv, sleep, waitRoomSettled, waitSubscribed } from './lib/common.mjs';
import { missingFigures, report } from './lib/compare-report.mjs';

const opt = args({
  systems: 'switchboard,floor,socketio',
  reps: 3,
  only: 'idle,storm,fanout,throughput,selective,rate,chat',
  idle: '5000,15000',
  'idle-seconds': 3,
  storm: 3000,
  'storm-concurrency': 25,
  fanout: '1000,5000',
  burst: 300,
  selective: '1000,5000,10000',
  receivers: 10,
  rate: 2000,
  'rate-events': 3000,
  'rate-inflight': 64,
  chat: 1000,
  events: 100,
  warmup: 3,
  gap: 20,
  procs: 4,
  redis: 'redis://127.0.0.1:6379/5',
  prof: '',
  json: '',
  baseline: '',
  check: 0,
});
const SYSTEMS = opt.systems.split(',');
const ONLY = new Set(opt.only.split(','));
const sizes = (s) => s.split(',').filter(Boolean).map(Number);
const LABEL = { switchboard: 'Switchboard', baseline: 'Switchboard (baseline)', floor: 'bare ws (floor)', socketio: 'Socket.IO' };
/** Switchboard, from this build or from the baseline's. */
const isSwitchboard = (system) => system === 'switchboard' || system === 'baseline';
if (SYSTEMS.includes('baseline') && !opt.baseline) throw new Error('the baseline system needs --baseline DIR (a built dist/)');

const SECRET = 'bench-' + randomBytes(6).toString('hex');
const jwt = new JwtService({ secret: SECRET });
const { tag, env: channelEnv } = benchChannels();
const TREE = channelEnv.CHANNEL_TREE;
const HISTORY_KEY = `bench:${tag}:history`;

const BENCH_WS = { uuid: 'w-bench', slug: 'bench', label: 'Bench', roots: [{ uuid: 'r-bench', path: 'pydiods1/bench' }] };
const personal = (i) => ({ uuid: `w-personal-${i}`, slug: 'personal-files', label: 'My Files', roots: [{ uuid: `r-personal-${i}`, path: `personal/user-${i}` }] });
const other = (k) => ({ uuid: `w-other-${k}`, slug: `other-${k}`, label: `Other ${k}`, roots: [{ uuid: `r-other-${k}`, path: `pydiods1/other-${k}` }] });

/** Tokens signed once and reused by every system: user i with `workspace` and a personal one. */
const tokenCache = new Map();
function token(i, workspace) {
  const key = `${workspace.uuid}/${i}`;
  let t = tokenCache.get(key);
  if (!t) {
    t = jwt.sign({ sub: `uuid-user-${i}`, name: `user-${i}`, profile: 'standard', roles: ['ROOT_GROUP'], workspaces: [workspace, personal(i)] }, { expiresIn: 7200 });
    tokenCache.set(key, t);
  }
  return t;
}

/** What Cells publishes when a file is deleted; the uuid carries the event number for the clients. */
function nodeEvent(id, j = 0) {
  return JSON.stringify({
    Type: 'DELETE',
    Source: {
      Uuid: `bench-${tag}-${id}`,
      Path: `pydiods1/bench/folder/sub/file-${id}-${j}.txt`,
      Type: 'LEAF',
      Size: '123456',
      MTime: '1700000000',
      Etag: 'd41d8cd98f00b204e9800998ecf8427e',
      MetaStore: { name: JSON.stringify(`file-${id}-${j}.txt`), 'pydio:meta-data-source-name': '"pydiods1"' },
    },
  });
}
/** A node event in workspace `other(k)` (its two sessions see it; nobody else). */
function nodeEventIn(id, k) {
  return JSON.stringify({ Type: 'DELETE', Source: { Uuid: `bench-${tag}-${id}`, Path: `pydiods1/other-${k}/file-${id}.txt`, Type: 'LEAF', Size: '1', MetaStore: { name: JSON.stringify(`file-${id}.txt`) } } });
}
const chatText = (id) => `bench-${tag}-${id} the export of the quarterly report is ready, see the shared folder`;

/** How each system is spoken to: URL path, the steps that subscribe (and join a room), the post frame. */
const PROTOCOL = {
  switchboard: {
    path: '/ws',
    subscribe: (t) => ({ frames: [JSON.stringify({ '@type': 'subscribe', jwt: t })], acks: ['"@type":"subscribed"'] }),
  },
  floor: {
    path: '/ws',
    subscribe: (t) => ({ frames: [JSON.stringify({ '@type': 'subscribe', jwt: t })], acks: ['"@type":"subscribed"'] }),
    join: (room) => ({ frame: JSON.stringify({ '@type': 'join', room }), ack: '"@type":"joined"' }),
    post: (room, text) => JSON.stringify({ '@type': 'POST', Message: { RoomUuid: room, Message: text } }),
  },
  get baseline() {
    return this.switchboard;
  },
  socketio: {
    path: '/socket.io/?EIO=4&transport=websocket',
    // Engine.IO open arrives by itself; "40" connects the main namespace ("40{"sid"..." back).
    subscribe: (t) => ({ frames: ['40', `42${JSON.stringify(['subscribe', { jwt: t }])}`], acks: ['40{', '["subscribed"'] }),
    join: (room) => ({ frame: `42${JSON.stringify(['join', { room }])}`, ack: '["joined"' }),
    post: (room, text) => `42${JSON.stringify(['post', { room, message: text }])}`,
  },
};

const pub = new Redis(opt.redis, { maxRetriesPerRequest: 1 });
const procs = Array.from({ length: opt.procs }, (_, k) => new Child('clients.mjs', [], { name: `clients-${k}` }));
await Promise.all(procs.map((p) => p.once('ready')));
const waiters = procs.map(() => new Map());
procs.forEach((p, k) => p.on('done', (msg) => waiters[k].get(msg.id)?.(msg)));
const localAddress = (k) => `127.0.0.${k + 2}`;

function startServer(system, rep) {
  const opts = {
    secret: SECRET,
    redisUrl: opt.redis,
    treeChannel: TREE,
    chatChannel: channelEnv.CHANNEL_CHAT,
    dist: opt.baseline ? resolve(opt.baseline) : undefined,
    historyKey: HISTORY_KEY,
    adapterKey: `bench.${tag}.socket.io`,
    env: serviceEnv(SECRET, {
      REDIS_URL: opt.redis,
      ...channelEnv,
      // Switchboard's keys under the run's prefix, deleted after it (a baseline build may not know REVOCATIONS_KEY).
      HISTORY_KEY: `bench:${tag}:stream`,
      CHAT_KEY_PREFIX: `bench:${tag}:chat:`,
      REVOCATIONS_KEY: `bench:${tag}:revoked`,
      // Nothing may pace the bench: flow control, the inbound frame limit, the chat rates.
      SESSION_RATE: '100000',
      SESSION_BURST: '100000',
      SESSION_QUEUE_MAX: String(Math.max(500, 2 * opt.burst)),
      CLIENT_FRAME_RATE: '100000',
      CLIENT_FRAME_BURST: '100000',
      CHAT_MESSAGE_RATE: '100000',
      CHAT_USER_MESSAGE_RATE: '100000',
      CHAT_USER_JOIN_RATE: '100000',
      // No liveness pings and no presence expiry while measuring (the others send none either).
      PING_INTERVAL_MS: '600000',
      CHAT_PRESENCE_TIMEOUT_MS: '600000',
      SHUTDOWN_GRACE_MS: '1000',
    }),
  };
  return new Child('server.mjs', [system], { name: `${system}#${rep}`, execArgv: ['--expose-gc'], env: { BENCH_SERVER_OPTS: JSON.stringify(opts) } });
}

/** One server run: sessions opened so far per client process, and how many of them receive node events. */
class Run {
  constructor(system, server, port) {
    this.system = system;
    this.server = server;
    this.url = `ws://127.0.0.1:${port}${PROTOCOL[system].path}`;
    this.port = port;
    this.expected = procs.map(() => 0);
    this.next = 0; // round robin over the client processes
  }

  /**
   * Opens one session per token (`receives[i]`: it sees the bench node), with `extra` as one more
   * step after the subscription (e.g. a chat JOIN). Sessions go to the client processes in turn;
   * `concurrency` is per client process.
   */
  async open(tokens, receives, { concurrency = 100, timings = false, extra, url = this.url, protocol = PROTOCOL[this.system], track = false } = {}) {
    const share = procs.map(() => ({ frames: [], acks: undefined }));
    tokens.forEach((t, i) => {
      const k = this.next++ % procs.length;
      const s = protocol.subscribe(t);
      const frames = extra ? [...s.frames, extra.frame] : s.frames;
      share[k].frames.push(frames);
      share[k].acks = extra ? [...s.acks, extra.ack] : s.acks;
      if (receives[i]) this.expected[k]++;
    });
    const eioPong = this.system === 'socketio';
    const replies = await Promise.all(
      procs.map((p, k) =>
        share[k].frames.length
          ? p.call('open', { url, frames: share[k].frames, ackMatch: share[k].acks, concurrency, localAddress: localAddress(k), timings, eioPong, track }, 300_000)
          : undefined,
      ),
    );
    const got = replies.filter(Boolean);
    const failed = got.reduce((n, r) => n + r.failed, 0);
    if (failed) throw new Error(`${this.system}: ${failed} of ${tokens.length} sessions failed: ${got.find((r) => r.failed).firstError}`);
    return got;
  }

  async closeAll() {
    await Promise.all(procs.map((p) => p.call('close', {}, 60_000)));
    this.expected = procs.map(() => 0);
    this.next = 0;
  }

  cpu = async () => {
    const c = await this.server.call('cpu');
    return c.user + c.system;
  };
}

let nextId = 0;

/**
 * Waits until every client process has `expected[k]` receipts of event `id`; `fire()` sends it
 * and resolves with t0. Returns ms from t0 to the first and last receipt, and the server CPU
 * (ms) from just before `fire` to the last receipt.
 */
async function measure(run, id, expected, fire, timeoutMs = 15_000) {
  await Promise.all(procs.map((p, k) => p.call('expect', { id, count: expected[k] })));
  const done = procs.map((p, k) => (expected[k] === 0 ? Promise.resolve(undefined) : new Promise((resolve) => waiters[k].set(id, resolve))));
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const cpu0 = await run.cpu();
  const t0 = await fire();
  const outcome = await Promise.race([Promise.all(done), timeout]);
  const cpu1 = await run.cpu();
  clearTimeout(timer);
  waiters.forEach((w) => w.delete(id));
  if (outcome === 'timeout') {
    const got = await Promise.all(procs.map((p) => p.call('report', { id })));
    throw new Error(`${run.system}: event ${id} timed out; received ${got.map((g) => g.count).join('+')} of ${expected.join('+')}`);
  }
  const reports = outcome.filter(Boolean);
  const last = reports.reduce((m, r) => (r.last > m ? r.last : m), 0n);
  const first = reports.reduce((m, r) => (m === undefined || r.first < m ? r.first : m), undefined);
  return { lastMs: Number(last - t0) / 1e6, firstMs: Number(first - t0) / 1e6, cpuMs: (cpu1 - cpu0) / 1000 };
}

async function publishNode(id, count = 1) {
  const t0 = process.hrtime.bigint();
  let receivers;
  if (count === 1) receivers = [await pub.publish(TREE, nodeEvent(id))];
  else {
    const p = pub.pipeline();
    for (let j = 0; j < count; j++) p.publish(TREE, nodeEvent(id, j));
    receivers = (await p.exec()).map(([, n]) => n);
  }
  if (receivers.some((n) => n !== 1)) throw new Error(`PUBLISH reached ${receivers.find((n) => n !== 1)} subscribers, expected 1 (cross-talk?)`);
  return t0;
}

/** `warmup` unmeasured, then `events` node events `gap` apart: latency and CPU per event. */
async function nodeEvents(run, events = opt.events) {
  const before = await markedFrames();
  for (let i = 0; i < opt.warmup; i++) {
    const id = ++nextId;
    await measure(run, id, run.expected, () => publishNode(id));
    await sleep(opt.gap);
  }
  const samples = [];
  for (let i = 0; i < events; i++) {
    const id = ++nextId;
    samples.push(await measure(run, id, run.expected, () => publishNode(id)));
    await sleep(opt.gap);
  }
  await checkClients(run.system);
  // Every receipt was expected: a session that must not see the node got nothing (its frame would
  // have left in the same loop as the receivers' ones, so it has arrived by now).
  await sleep(50);
  const extra = (await markedFrames()) - before - run.expected.reduce((a, b) => a + b, 0) * (opt.warmup + events);
  if (extra !== 0) throw new Error(`${run.system}: ${extra} more event frames received than expected (delivered to sessions that must not see the node?)`);
  const last = samples.map((s) => s.lastMs);
  return {
    receivers: run.expected.reduce((a, b) => a + b, 0),
    p50: median(last),
    p99: percentile(last, 99),
    max: Math.max(...last),
    first: median(samples.map((s) => s.firstMs)),
    cpuMs: samples.reduce((n, s) => n + s.cpuMs, 0) / samples.length,
  };
}

async function markedFrames() {
  const stats = await Promise.all(procs.map((p) => p.call('stats')));
  return stats.reduce((n, s) => n + s.marked, 0);
}

async function checkClients(what) {
  const stats = await Promise.all(procs.map((p) => p.call('stats')));
  const closedEarly = stats.reduce((n, s) => n + s.closedEarly, 0);
  const errors = stats.reduce((n, s) => n + s.errorFrames, 0);
  if (closedEarly) throw new Error(`${what}: ${closedEarly} sockets closed: ${JSON.stringify(stats.map((s) => s.closeCodes))}`);
  if (errors) throw new Error(`${what}: ${errors} error frames, first: ${stats.find((s) => s.firstError).firstError}`);
  return stats;
}

const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i);
const log = (...a) => console.error(...a);

async function profiled(run, name, fn) {
  if (!opt.prof) return fn();
  await run.server.call('profStart');
  try {
    return await fn();
  } finally {
    const { file, samples } = await run.server.call('profStop', { file: `${opt.prof}/${run.system}-${name}-rep${run.rep}.cpuprofile` });
    log(`  profile: ${file} (${samples} samples)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios: each leaves no session open.

async function idle(run) {
  const out = {};
  let opened = 0;
  const before = await run.server.call('heap');
  if (!before.gc) throw new Error('server has no gc(): --expose-gc missing');
  for (const n of sizes(opt.idle)) {
    await run.open(
      range(opened, n).map((i) => token(i, BENCH_WS)),
      [],
      { concurrency: 100 },
    );
    opened = n;
    await sleep(500);
    const after = await run.server.call('heap');
    out[n] = { heap: (after.heapUsed - before.heapUsed) / n, rss: (after.rss - before.rss) / n };
    log(`  idle ${n}: heap ${out[n].heap.toFixed(0)} B/session, RSS ${out[n].rss.toFixed(0)} B/session`);
  }
  // What the server burns doing nothing with the last size open (timers, monitors).
  // Settle first: V8 may still be collecting (on its own threads) after the sessions were opened.
  await sleep(Math.min(2, opt['idle-seconds']) * 1000);
  await profiled(run, `idle-${opened}`, async () => {
    out.cpuMsPerS = await idleCpu(run);
  });
  log(`  idle: ${out.cpuMsPerS.toFixed(2)} ms of CPU per second`);
  await run.closeAll();
  return out;
}

async function storm(run) {
  const n = opt.storm;
  const cpu0 = await run.cpu();
  const replies = await profiled(run, `storm-${n}`, () =>
    run.open(
      range(0, n).map((i) => token(i, BENCH_WS)),
      [],
      { concurrency: opt['storm-concurrency'], timings: true },
    ),
  );
  // Server CPU per subscribe: steadier than the rate, which moves with the clients' own CPU.
  const cpuMs = ((await run.cpu()) - cpu0) / 1000 / n;
  const start = replies.reduce((m, r) => (r.start < m ? r.start : m), replies[0].start);
  const end = replies.reduce((m, r) => (r.end > m ? r.end : m), 0n);
  const times = replies.flatMap((r) => r.times);
  await run.closeAll();
  const out = { perS: n / (Number(end - start) / 1e9), p50: median(times), p99: percentile(times, 99), cpuMs };
  log(`  storm ${n}: ${out.perS.toFixed(0)} subscribes/s, ack p50 ${out.p50.toFixed(1)} ms p99 ${out.p99.toFixed(1)} ms, server CPU ${cpuMs.toFixed(3)} ms per subscribe`);
  return out;
}

async function throughput(run) {
  const id = ++nextId;
  const receivers = run.expected.reduce((a, b) => a + b, 0);
  const r = await measure(
    run,
    id,
    run.expected.map((n) => n * opt.burst),
    () => publishNode(id, opt.burst),
    120_000,
  );
  await checkClients(run.system);
  const out = { deliveries: opt.burst * receivers, ms: r.lastMs, perS: (opt.burst * receivers) / (r.lastMs / 1000), cpuUsPerDelivery: (r.cpuMs * 1000) / (opt.burst * receivers) };
  log(`  throughput ${receivers}: ${opt.burst} events in ${r.lastMs.toFixed(0)} ms, ${Math.round(out.perS)} deliveries/s`);
  return out;
}

async function fanout(run) {
  const out = {};
  let opened = 0;
  const [first] = sizes(opt.fanout);
  for (const n of sizes(opt.fanout)) {
    await run.open(
      range(opened, n).map((i) => token(i, BENCH_WS)),
      range(opened, n).map(() => true),
    );
    opened = n;
    await sleep(300);
    out[n] = await profiled(run, `fanout-${n}`, () => nodeEvents(run));
    const r = out[n];
    log(`  fanout ${n}: p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} max ${r.max.toFixed(2)} ms, first ${r.first.toFixed(2)} ms, CPU ${r.cpuMs.toFixed(2)} ms/event`);
    if (n === first && ONLY.has('throughput')) out.throughput = await throughput(run);
  }
  await run.closeAll();
  return out;
}

async function selective(run) {
  const out = {};
  let opened = 0;
  for (const n of sizes(opt.selective)) {
    // The receivers come first (spread over the client processes), then sessions that do not see the node.
    const ids = range(opened, n);
    const receives = ids.map((i) => i < opt.receivers);
    await run.open(
      ids.map((i) => (i < opt.receivers ? token(i, BENCH_WS) : token(i, other(i % 99)))),
      receives,
    );
    opened = n;
    await sleep(300);
    out[n] = await profiled(run, `selective-${n}`, () => nodeEvents(run));
    log(`  selective ${opt.receivers}/${n}: p50 ${out[n].p50.toFixed(2)} ms, CPU ${out[n].cpuMs.toFixed(3)} ms/event`);
  }
  await run.closeAll();
  return out;
}

/**
 * The event rate: --rate sessions, two per workspace `other(k)`; each event goes to the next
 * workspace (two receivers), --rate-inflight events in flight at once (a new one as soon as one
 * is received by both), --rate-events in all after a warm-up. Server CPU over the whole run.
 */
async function eventRate(run) {
  const n = opt.rate;
  const workspaces = Math.floor(n / 2);
  const first = run.next;
  await run.open(
    range(0, n).map((i) => token(i, other(Math.floor(i / 2)))),
    range(0, n).map(() => false),
  );
  await sleep(300);
  const procOf = (i) => (first + i) % procs.length;
  let k = 0;
  const one = async () => {
    const id = ++nextId;
    const w = k++ % workspaces;
    const expected = procs.map(() => 0);
    expected[procOf(2 * w)]++;
    expected[procOf(2 * w + 1)]++;
    await Promise.all(procs.map((p, j) => (expected[j] ? p.call('expect', { id, count: expected[j] }) : undefined)));
    const done = Promise.all(procs.map((p, j) => (expected[j] ? new Promise((resolve) => waiters[j].set(id, resolve)) : undefined)));
    const t0 = process.hrtime.bigint();
    await pub.publish(TREE, nodeEventIn(id, w));
    let timer;
    const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${run.system}: rate event ${id} not received in 15 s`)), 15_000)));
    const reports = (await Promise.race([done, late])).filter(Boolean);
    clearTimeout(timer);
    waiters.forEach((m) => m.delete(id));
    return Number(reports.reduce((m, r) => (r.last > m ? r.last : m), 0n) - t0) / 1e6;
  };
  const loop = async (count) => {
    const latencies = [];
    let left = count;
    const worker = async () => {
      while (left-- > 0) latencies.push(await one());
    };
    await Promise.all(Array.from({ length: opt['rate-inflight'] }, worker));
    return latencies;
  };
  await loop(Math.min(500, opt['rate-events']));
  const cpu0 = await run.cpu();
  const t = process.hrtime.bigint();
  const latencies = await profiled(run, 'rate', () => loop(opt['rate-events']));
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  const cpu1 = await run.cpu();
  await checkClients(`${run.system} rate`);
  await run.closeAll();
  const out = { events: opt['rate-events'], perS: opt['rate-events'] / seconds, cpuMs: (cpu1 - cpu0) / 1000 / opt['rate-events'], p50: median(latencies), p99: percentile(latencies, 99) };
  log(`  rate: ${Math.round(out.perS)} events/s, CPU ${out.cpuMs.toFixed(3)} ms/event, p50 ${out.p50.toFixed(2)} ms p99 ${out.p99.toFixed(2)} ms`);
  return out;
}

/** One real socket.io-client: connects, subscribes, receives a node event as the bench clients do. */
async function realClientCheck(port) {
  const { io } = await import('socket.io-client');
  const socket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
  const within = (p, what) => Promise.race([p, sleep(10_000).then(() => Promise.reject(new Error(`socket.io-client: no ${what} within 10 s`)))]);
  try {
    await within(new Promise((r) => socket.once('connect', r)), 'connect');
    socket.emit('subscribe', { jwt: token(0, BENCH_WS) });
    await within(new Promise((r) => socket.once('subscribed', r)), 'subscribed');
    const id = ++nextId;
    const node = new Promise((r) => socket.once('node', r));
    await publishNode(id);
    const frame = await within(node, 'node event');
    if (frame.Source?.Uuid !== `bench-${tag}-${id}` || !frame.Source.Path.startsWith('bench/')) throw new Error(`socket.io-client: unexpected frame ${JSON.stringify(frame)}`);
    log(`  socket.io-client: connected, subscribed, received the event as ${frame.Source.Path}`);
    return true;
  } finally {
    socket.close();
  }
}

/** Server CPU (ms) per second of doing nothing, over --idle-seconds. */
async function idleCpu(run) {
  const c0 = await run.cpu();
  await sleep(opt['idle-seconds'] * 1000);
  return ((await run.cpu()) - c0) / 1000 / opt['idle-seconds'];
}

/** The IPC cost of the CPU reading itself: two reads with nothing in between. */
async function ipcCost(run) {
  const xs = [];
  for (let i = 0; i < 20; i++) {
    const a = await run.cpu();
    const b = await run.cpu();
    xs.push((b - a) / 1000);
  }
  return median(xs);
}

/**
 * One room of `opt.chat` members; the sender is the first socket of client process 0. Switchboard:
 * /chat, subscribe then JOIN (the ROOM_UPDATEs are waited for), plus as many /ws sockets in a push
 * room, the baseline. The others: subscribe then join.
 */
async function chat(run, rep) {
  const n = opt.chat;
  const out = {};
  const wsUuid = `w-chat-${tag}-${rep}`;
  const workspace = { uuid: wsUuid, slug: 'chat', label: 'Chat', roots: [{ uuid: `r-${wsUuid}`, path: `pydiods1/${wsUuid}` }] };
  const tokens = range(0, n).map((i) => token(i, workspace));
  const everyone = tokens.map(() => true);
  const t = Date.now();
  let room;
  if (isSwitchboard(run.system)) {
    const join = { frame: JSON.stringify({ '@type': 'JOIN', Room: { Type: 'WORKSPACE', RoomTypeObject: wsUuid, RoomLabel: 'Chat' } }), ack: '"@type":"ROOM_UPDATE"' };
    const replies = await run.open(tokens, everyone, { url: `ws://127.0.0.1:${run.port}/chat`, extra: join, track: true, concurrency: 50 });
    room = JSON.parse(replies[0].sampleAck).Room.Uuid;
    out.roomUpdates = await waitRoomSettled(procs, n, 120_000);
    out.joinMs = Date.now() - t;
    log(`  chat: ${n} members joined, room settled in ${out.joinMs} ms (${out.roomUpdates} ROOM_UPDATE frames)`);
  } else {
    room = `room-${tag}-${rep}`;
    await run.open(tokens, everyone, { extra: PROTOCOL[run.system].join(room), concurrency: 50 });
    out.joinMs = Date.now() - t;
    log(`  chat: ${n} members joined in ${out.joinMs} ms`);
  }
  const members = [...run.expected];
  const post = isSwitchboard(run.system) ? (text) => JSON.stringify({ '@type': 'POST', Message: { RoomUuid: room, Message: text } }) : (text) => PROTOCOL[run.system].post(room, text);
  const fireChat = async (id) => (await procs[0].call('send', { sends: [{ socket: 0, frames: [post(chatText(id))] }] })).t0;
  out.chat = await profiled(run, 'chat', () => messages(run, members, fireChat));
  log(`  chat: p50 ${out.chat.p50.toFixed(2)} ms p99 ${out.chat.p99.toFixed(2)} ms, CPU ${out.chat.cpuMs.toFixed(2)} ms/message`);

  if (isSwitchboard(run.system)) {
    // The same number of /ws sessions in the push room of the workspace: what a push costs.
    const pushRoom = `workspace:${wsUuid}`;
    await run.open(tokens, everyone, { extra: { frame: JSON.stringify({ '@type': 'joinRoom', room: pushRoom }), ack: '"joined":true' }, track: true });
    const pushOnly = run.expected.map((x, k) => x - members[k]);
    const firePush = async (id) => {
      const t0 = process.hrtime.bigint();
      const payload = { Uuid: `u-${id}`, RoomUuid: room, Message: chatText(id), Author: 'user-0', Timestamp: String(Math.floor(Date.now() / 1000)) };
      const receivers = await pub.publish(channelEnv.CHANNEL_PUSH, JSON.stringify({ pushToRoom: pushRoom, payload }));
      if (receivers !== 1) throw new Error(`push PUBLISH reached ${receivers} subscribers`);
      return t0;
    };
    out.push = await profiled(run, 'push', () => messages(run, pushOnly, firePush));
    log(`  push: p50 ${out.push.p50.toFixed(2)} ms p99 ${out.push.p99.toFixed(2)} ms, CPU ${out.push.cpuMs.toFixed(2)} ms/message`);
  }
  out.room = room;
  return out;
}

async function messages(run, expected, fire) {
  const samples = [];
  for (let i = 0; i < opt.warmup + opt.events; i++) {
    const id = ++nextId;
    const r = await measure(run, id, expected, () => fire(id));
    if (i >= opt.warmup) samples.push(r);
    await sleep(opt.gap);
  }
  await checkClients(`${run.system} chat`);
  const last = samples.map((s) => s.lastMs);
  return { p50: median(last), p99: percentile(last, 99), max: Math.max(...last), cpuMs: samples.reduce((a, s) => a + s.cpuMs, 0) / samples.length };
}

/** Every key of the run (all under `bench:<tag>:`): Switchboard's stream, chat and markers, the others' chat lists. */
const cleanKeys = () => deleteMatching(pub, `bench:${tag}:*`);

// ---------------------------------------------------------------------------------------------

async function runSystem(system, rep, background) {
  const server = startServer(system, rep);
  const result = { system, rep };
  let run;
  try {
    const { port } = await server.once('ready');
    await waitSubscribed(pub, TREE);
    run = new Run(system, server, port);
    run.rep = rep;
    background.track(server.proc.pid);
    const bg = background.start();
    // Warm-up: lazy compilation, first-use caches.
    await run.open(
      range(0, 200).map((i) => token(i, BENCH_WS)),
      range(0, 200).map(() => true),
    );
    await nodeEvents(run, 5);
    await run.closeAll();
    if (opt.check && system === 'socketio') result.realClient = await realClientCheck(port);
    result.ipcMs = await ipcCost(run);
    result.idleEmptyCpu = await idleCpu(run);
    if (ONLY.has('idle')) result.idle = await idle(run);
    if (ONLY.has('storm')) result.storm = await storm(run);
    if (ONLY.has('fanout') || ONLY.has('throughput')) result.fanout = await fanout(run);
    if (ONLY.has('selective')) result.selective = await selective(run);
    if (ONLY.has('rate')) result.rate = await eventRate(run);
    if (ONLY.has('chat')) result.chat = await chat(run, rep);
    result.background = background.stop(bg);
    log(`  background: loadavg ${result.background.loadavg}, other processes ${result.background.othersCores.toFixed(2)} cores, redis ${result.background.redisCores.toFixed(2)} cores`);
    return result;
  } finally {
    // Server first: closing a chat room's members on a live Switchboard announces a ROOM_UPDATE each.
    await server.stop();
    background.untrack(server.proc.pid);
    if (run) await run.closeAll().catch(() => undefined);
  }
}

const m = machine();
const started = Date.now();
if (opt.prof) mkdirSync(opt.prof, { recursive: true });
const clock = await clockCheck(procs);
log(`clock check: ${clock.min.toFixed(3)}..${clock.max.toFixed(3)} ms (>= 0: one clock)`);
const background = new Background([process.pid, ...procs.map((p) => p.proc.pid)]);
const results = [];
try {
  for (let rep = 1; rep <= opt.reps; rep++) {
    // Rotate the order each repetition, so that drift over the run touches every system alike.
    const order = SYSTEMS.map((_, i) => SYSTEMS[(i + rep - 1) % SYSTEMS.length]);
    for (const system of order) {
      log(`rep ${rep} ${system}`);
      const r = await runSystem(system, rep, background);
      results.push(r);
    }
  }
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  const deleted = await cleanKeys().catch(() => 0);
  log(`redis: deleted ${deleted} keys of the run`);
  await pub.quit();
}
const durationS = (Date.now() - started) / 1000;
if (opt.check) {
  const missing = missingFigures(results, opt, SYSTEMS);
  if (SYSTEMS.includes('socketio') && !results.some((r) => r.realClient)) missing.push('socketio: the socket.io-client check');
  if (missing.length) {
    console.error(`check failed: ${missing.length} figures missing:\n  ${missing.join('\n  ')}`);
    process.exit(1);
  }
  console.error(`check: every scenario produced every figure for ${SYSTEMS.join(', ')}; every expected delivery arrived`);
}
if (opt.json) writeFileSync(opt.json, JSON.stringify({ machine: m, opt, clock, durationS, results }, null, 2));
console.log(report({ machine: m, opt, clock, durationS, results, systems: SYSTEMS, labels: LABEL, printMachine }));
process.exit(0);
