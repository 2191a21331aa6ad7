// A rolling upgrade under load (issue 20): P pods behind a round-robin TCP balancer (what a
// Kubernetes Service does), C clients of @switchboard/client spread over them, task events
// published at R/s the whole time, then each pod in turn SIGTERMed (1001 with a retry hint,
// SHUTDOWN_RECONNECT_WINDOW_MS) and started again. Counts, per client, every event of its user
// received, missing or twice, the resets (recovered:false), and the reconnect spread after
// each pod's stop, and the publish-to-receipt delay of events reaching clients that were live
// when they were published, before, during and after the roll (a window where some pods get
// events late shows there). `--old <dist>` starts the pods from another build (e.g. the previous
// version's) and replaces each with this one: old and new side by side during the roll.
//
//   npm run build && npx tsc -b client && node bench/rolling-upgrade.mjs --clients 3000 --users 300 --rate 100
//   ... --old .base/<commit>/dist        (the upgrade from that build)
//   ... --json out.json                  (the figures, for a test or docs/BENCHMARKS.md)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { Switchboard } from '../client/dist/index.js';

const { values: opt } = parseArgs({
  options: {
    clients: { type: 'string', default: '300' },
    users: { type: 'string', default: '30' },
    pods: { type: 'string', default: '3' },
    rate: { type: 'string', default: '50' },
    window: { type: 'string', default: '3000' },
    settle: { type: 'string', default: '2000' },
    redis: { type: 'string', default: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' },
    old: { type: 'string' },
    new: { type: 'string', default: 'dist' },
    json: { type: 'string' },
  },
});
const [C, U, P, RATE, WINDOW, SETTLE] = ['clients', 'users', 'pods', 'rate', 'window', 'settle'].map((k) => Number(opt[k]));
const tag = randomBytes(4).toString('hex');
const SECRET = `rolling-${tag}`;
const KEY = Buffer.from(SECRET);
const CHANNEL = `rolling.${tag}.tasks`;
const HISTORY_KEY = `rolling.${tag}.history`;
// Builds before REVOCATIONS_KEY (--old) keep their markers under switchboard:revoked.
const REVOCATIONS_KEY = `rolling.${tag}.revoked`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[rolling ${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...a);
const T0 = Date.now();

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** One pod: `node <dist>/main.js` on its port, until stopped. */
async function startPod(dist, port) {
  const env = {
    ...process.env,
    NODE_OPTIONS: '',
    HOST: '127.0.0.1',
    PORT: String(port),
    REDIS_URL: opt.redis,
    JWT_SECRET: SECRET,
    LOG_LEVEL: 'error',
    CHANNEL_TASKS: CHANNEL,
    HISTORY_KEY,
    REVOCATIONS_KEY,
    HISTORY_LEASE_MS: '900',
    MAX_CONNECTIONS_PER_ADDRESS: '0',
    MAX_SESSIONS_PER_USER: '0',
    CLIENT_FRAME_RATE: '1000',
    SHUTDOWN_RECONNECT_WINDOW_MS: String(WINDOW),
    // Every task event at once: the delays measured are the transport's, not a coalescing window.
    TASK_COALESCE_MS: '0',
    SHUTDOWN_GRACE_MS: String(WINDOW + 5000),
  };
  const proc = spawn(process.execPath, [`${dist}/main.js`], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((r) => proc.once('exit', r));
  for (let i = 0; i < 200; i++) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
    if (ready) return { proc, port, dist, exited };
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error(`pod on ${port} (${dist}) not ready`);
}

/** The Service: every new connection to a live pod, in turn. */
function balancer(pods) {
  let next = 0;
  const server = createServer((client) => {
    const live = pods.filter((p) => p.live);
    if (!live.length) return client.destroy();
    const pod = live[next++ % live.length];
    const upstream = tcpConnect(pod.port, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const end = () => (client.destroy(), upstream.destroy());
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

const podPorts = await Promise.all(Array.from({ length: P }, freePort));
const pods = [];
for (const port of podPorts) pods.push({ ...(await startPod(opt.old ?? opt.new, port)), live: true });
const lb = await balancer(pods);
const url = `ws://127.0.0.1:${lb.address().port}`;
log(`${P} pods of ${opt.old ?? opt.new} behind ${url}`);

// Clients: user i % U; each counts the events of its user.
const clients = [];
/** Event id -> when it was published; [publishedAt, delay] of each receipt by a client live since before its publish. */
const publishedAt = new Map();
const delays = [];
/** Why clients reset (the client's reason: the server's `recovered:false` reason, or its own timeout). */
const resetReasons = new Map();
// A deployment's history is seldom empty: one event first, so that each ack gives the client a
// position to resume from before its own first event (an empty history gives none).
{
  const warm = new Redis(opt.redis);
  await warm.publish(CHANNEL, JSON.stringify({ TaskUpdated: { ID: `warm-${tag}`, TriggerOwner: 'nobody' } }));
  for (let i = 0; i < 100 && (await warm.xlen(HISTORY_KEY)) < 1; i++) await sleep(50);
  await sleep(300); // every pod delivers the announcement within milliseconds
  warm.disconnect();
}
for (let i = 0; i < C; i++) {
  const user = `u${i % U}`;
  const token = () => new SignJWT({ name: user }).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setIssuedAt().setExpirationTime('1h').sign(KEY);
  const c = new Switchboard({ url, token, WebSocket, autoConnect: false, backoff: { initialMs: 200, maxMs: 2000 } });
  const state = { c, user, got: new Map(), resets: 0, live: false, liveSince: 0, closedAt: 0, reconnects: [] };
  c.on('task', (e) => {
    const id = e.TaskUpdated?.ID;
    state.got.set(id, (state.got.get(id) ?? 0) + 1);
    const at = publishedAt.get(id);
    if (at !== undefined && state.live && state.liveSince <= at) delays.push([at, Date.now() - at]);
  });
  c.on('reset', (why) => {
    state.resets++;
    resetReasons.set(why, (resetReasons.get(why) ?? 0) + 1);
  });
  c.on('status', (s) => {
    const live = s.endpoints.events.state === 'live';
    if (state.live && !live) state.closedAt = Date.now();
    if (!state.live && live && state.closedAt) state.reconnects.push(Date.now());
    if (!state.live && live) state.liveSince = Date.now();
    state.live = live;
  });
  clients.push(state);
  c.connect();
  if (i % 100 === 99) await sleep(50);
}
for (let i = 0; i < 600 && clients.some((s) => !s.live); i++) await sleep(100);
log(`${clients.filter((s) => s.live).length}/${C} clients live`);

// The publisher: RATE task events a second, round-robin over the users.
const redis = new Redis(opt.redis);
const published = new Map(); // user -> ids
let seq = 0;
let publishing = true;
const publisher = (async () => {
  while (publishing) {
    const started = Date.now();
    for (let k = 0; k < Math.max(1, Math.round(RATE / 10)); k++) {
      const user = `u${seq % U}`;
      const id = `e${seq++}`;
      (published.get(user) ?? published.set(user, []).get(user)).push(id);
      publishedAt.set(id, Date.now());
      await redis.publish(CHANNEL, JSON.stringify({ TaskUpdated: { ID: id, TriggerOwner: user } })).catch(() => undefined);
    }
    await sleep(Math.max(0, 100 - (Date.now() - started)));
  }
})();
await sleep(SETTLE);

// The roll: each pod stopped (SIGTERM: 1001 with a retry hint to each socket), then started again.
const steps = [];
const rollStarted = Date.now();
for (const pod of pods) {
  const stoppedAt = Date.now();
  pod.live = false;
  const onIt = clients.filter((s) => s.live).length;
  pod.proc.kill('SIGTERM');
  await pod.exited;
  const fresh = await startPod(opt.new, pod.port);
  Object.assign(pod, fresh, { live: true });
  await sleep(WINDOW + SETTLE);
  const times = clients.flatMap((s) => s.reconnects.filter((t) => t >= stoppedAt)).map((t) => t - stoppedAt).sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? 0;
  steps.push({ pod: pod.port, stopMs: Date.now() - stoppedAt, reconnected: times.length, firstMs: times[0] ?? 0, p50Ms: q(0.5), p90Ms: q(0.9), lastMs: times.at(-1) ?? 0 });
  log(`pod ${pod.port} rolled: ${times.length} reconnects, first ${steps.at(-1).firstMs} ms, p50 ${steps.at(-1).p50Ms}, last ${steps.at(-1).lastMs} ms (${onIt} clients live before)`);
}
const rollEnded = Date.now();
await sleep(SETTLE);
publishing = false;
await publisher;

// A barrier per user, then the count.
const barrier = `barrier-${tag}`;
for (let u = 0; u < U; u++) await redis.publish(CHANNEL, JSON.stringify({ TaskUpdated: { ID: barrier, TriggerOwner: `u${u}` } }));
for (let i = 0; i < 600 && clients.some((s) => !s.got.has(barrier)); i++) await sleep(100);
let [lost, duplicated, events] = [0, 0, 0];
for (const s of clients) {
  for (const id of published.get(s.user) ?? []) {
    events++;
    const n = s.got.get(id) ?? 0;
    if (n === 0) lost++;
    if (n > 1) duplicated += n - 1;
  }
}
/** p50, p99 and max of the delays of events published in [from, to). */
function delayStats(from, to) {
  const d = delays.filter(([at]) => at >= from && at < to).map(([, ms]) => ms).sort((a, b) => a - b);
  const q = (p) => d[Math.min(d.length - 1, Math.floor(p * d.length))] ?? 0;
  return { receipts: d.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: d.at(-1) ?? 0 };
}
const result = {
  clients: C,
  users: U,
  pods: P,
  ratePerSecond: RATE,
  windowMs: WINDOW,
  from: opt.old ?? opt.new,
  to: opt.new,
  published: seq,
  deliveriesExpected: events,
  lost,
  duplicated,
  resets: clients.reduce((n, s) => n + s.resets, 0),
  resetReasons: Object.fromEntries(resetReasons),
  delay: { beforeRoll: delayStats(0, rollStarted), duringRoll: delayStats(rollStarted, rollEnded), afterRoll: delayStats(rollEnded, Infinity) },
  withoutBarrier: clients.filter((s) => !s.got.has(barrier)).length,
  steps,
};
console.log(JSON.stringify(result, null, 2));
if (opt.json) writeFileSync(opt.json, JSON.stringify(result, null, 2));

for (const s of clients) s.c.close();
lb.close();
for (const pod of pods) pod.proc.kill('SIGTERM');
await Promise.all(pods.map((p) => p.exited));
await redis.del(HISTORY_KEY, `${HISTORY_KEY}:epoch`, `${HISTORY_KEY}:lease`, `${HISTORY_KEY}:epoch-kept`, `${REVOCATIONS_KEY}:~since`);
redis.disconnect();
process.exit(0);
