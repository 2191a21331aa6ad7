/**
 * Chat in one big room, through the real path: a member's POST on `/chat` -> session frame
 * queue -> sanitize -> message stored in Redis (EVAL) -> PUBLISH on the chat channel ->
 * Nest Redis transport -> chat route -> the room's sessions (index) -> fan-out -> outbox -> socket.
 *
 * One Switchboard process (REDIS_URL, channels unique to the run), two client processes
 * holding `members` sockets on `/chat`, every one subscribed with a token holding the
 * workspace `w-bench-<tag>` and JOINed to the WORKSPACE room of that workspace (a room unique
 * to the run). Each member is its own user, so the room's presence lists every member.
 * The same client processes also hold as many `/ws` sockets, subscribed with the same
 * tokens and joined to the push room `workspace:w-bench-<tag>`: the baseline.
 *
 *   latency     one member POSTs a message; time from its send (hrtime taken in the sender's
 *               process just before `socket.send`) to the LAST member's receipt of the bare
 *               Message frame (every member receives it, the sender included).
 *               Baseline: the parent PUBLISHes `{"pushToRoom":"workspace:w-bench-<tag>","payload":<a
 *               Message of the same shape and size>}` on the push channel; time from PUBLISH to
 *               the last `/ws` socket's receipt. Same server process, same client processes,
 *               same number of receivers, same frame size; what differs is what chat does
 *               before the fan-out (inbound frame, checks, sanitize, Redis store, publish).
 *               `warmup` + `events` messages per round, `gap` ms apart; `rounds` rounds with
 *               the order alternating; samples pooled; median and p95 (nearest rank).
 *   throughput  `messages` POSTs sent back to back by 1 member, then by `senders` members
 *               (messages split between them); from the first send to the last member's
 *               receipt of the last message: messages/s and deliveries/s (messages x members
 *               / elapsed). The server handles one session's frames in order, each POST
 *               waiting for its Redis store and publish, so one sender is bounded by that.
 *               Baseline: `messages` push commands PUBLISHed back to back by the parent.
 *
 * Configuration that must not pace or disturb the bench: CHAT_MESSAGE_RATE, CLIENT_FRAME_RATE/
 * BURST, SESSION_RATE/BURST high (the sender bursts `messages` frames); PING_INTERVAL_MS and
 * CHAT_PRESENCE_TIMEOUT_MS long (no liveness pings, no presence expiry and its ROOM_UPDATE
 * storm while measuring; the members do not send the 15 s PING either).
 *
 *   join        the members subscribe and JOIN (50 in flight per client process); from the first
 *               connect until every member's last ROOM_UPDATE lists all `members` users and no
 *               more arrive (polled every 250 ms): the time, and the ROOM_UPDATE frames the
 *               members received. Presence changes are coalesced per room (at most one
 *               ROOM_UPDATE per CHAT_ROOM_UPDATE_WINDOW_MS, `--window`; unset: the server's
 *               default), so filling a room costs O(members) frames, not one per member already in.
 *
 * `--phases join` measures the JOIN phase alone (a before/after comparison: run this file from
 * a build of each version, interleaved). At the end the server is stopped first (so that
 * 1,000 closes do not each announce a ROOM_UPDATE), then the Redis keys of the run's room are
 * deleted: room, room-key, messages, message, presence.
 *
 *   npm run build && node bench/chat-room.mjs [--members 1000] [--events 20] [--rounds 3] [--warmup 3] [--gap 100]
 *        [--messages 200] [--senders 10] [--procs 2] [--redis redis://127.0.0.1:6379] [--prof DIR]
 *        [--phases join,latency,throughput] [--window MS] [--json FILE]
 */
import { JwtService } from '@nestjs/jwt';
import { Redis } from 'ioredis';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import { Child, args, benchChannels, clockCheck, serviceEnv, machine, median, percentile, printMachine, sleep, waitRoomSettled, waitSubscribed } from './lib/common.mjs';

const opt = args({
  members: 1000,
  events: 20,
  rounds: 3,
  warmup: 3,
  gap: 100,
  messages: 200,
  senders: 10,
  procs: 2,
  redis: 'redis://127.0.0.1:6379',
  prof: '',
  phases: 'join,latency,throughput',
  window: '',
  json: '',
});
const PHASES = new Set(opt.phases.split(','));
const N = opt.members;
const CHAT_PREFIX = 'switchboard:chat:'; // RedisChatStore / RedisPresenceBoard default prefix

const SECRET = 'bench-' + randomBytes(6).toString('hex');
const jwt = new JwtService({ secret: SECRET });
const { tag, env: channelEnv } = benchChannels();
const WS_UUID = `w-bench-${tag}`;
const WORKSPACE = { uuid: WS_UUID, slug: 'bench', label: 'Bench', roots: [{ uuid: `r-bench-${tag}`, path: `pydiods1/bench-${tag}` }] };
const ROOM_REF = { Type: 'WORKSPACE', RoomTypeObject: WS_UUID, RoomLabel: 'Bench' };
const PUSH_ROOM = `workspace:${WS_UUID}`;
const ROOM_KEY = `${CHAT_PREFIX}room-key:WORKSPACE:${WS_UUID}`;

/** Member i: its own user (`member-<i>`), the bench workspace and a personal one. */
function token(i) {
  const personal = { uuid: `w-personal-${i}`, slug: 'personal-files', label: 'My Files', roots: [{ uuid: `r-personal-${i}`, path: `personal/member-${i}` }] };
  return jwt.sign({ sub: `uuid-member-${i}`, name: `member-${i}`, profile: 'standard', roles: ['ROOT_GROUP'], workspaces: [WORKSPACE, personal] }, { expiresIn: 3600 });
}

/** The text carries the event number for the clients (`bench-<tag>-<id>`), then an ordinary sentence. */
const text = (id, k = 0) => `bench-${tag}-${id} #${k} the export of the quarterly report is ready, see the shared folder`;

const pub = new Redis(opt.redis, { maxRetriesPerRequest: 1 });
const procs = Array.from({ length: opt.procs }, (_, k) => new Child('clients.mjs', [], { name: `clients-${k}` }));
await Promise.all(procs.map((p) => p.once('ready')));
const waiters = procs.map(() => new Map());
procs.forEach((p, k) => p.on('done', (msg) => waiters[k].get(msg.id)?.(msg)));

/** Member (and /ws socket) i lives in process i % procs, at index floor(i / procs) there. */
const where = (i) => ({ k: i % opt.procs, socket: Math.floor(i / opt.procs) });
const perProc = procs.map((_, k) => Math.floor(N / opt.procs) + (k < N % opt.procs ? 1 : 0));

function startServer() {
  const env = serviceEnv(SECRET, {
    REDIS_URL: opt.redis,
    ...channelEnv,
    // The sender bursts `messages` POSTs: neither the chat rate nor the inbound frame limit may refuse them.
    CHAT_MESSAGE_RATE: '100000',
    CLIENT_FRAME_RATE: '100000',
    CLIENT_FRAME_BURST: '100000',
    // Flow control must not pace the bench.
    SESSION_RATE: '100000',
    SESSION_BURST: '100000',
    // No liveness pings, no presence expiry (members send no PING) while measuring.
    PING_INTERVAL_MS: '600000',
    CHAT_PRESENCE_TIMEOUT_MS: '600000',
    SHUTDOWN_GRACE_MS: '1000',
    ...(opt.window === '' ? {} : { CHAT_ROOM_UPDATE_WINDOW_MS: opt.window }),
  });
  const execArgv = opt.prof ? ['--cpu-prof', `--cpu-prof-dir=${opt.prof}`] : [];
  return new Child('server.mjs', ['switchboard'], { name: 'switchboard', execArgv, env: { BENCH_SERVER_OPTS: JSON.stringify({ env }) } });
}

let nextId = 0;

/**
 * Waits until every client process has `expected[k]` receipts of event `id`; `fire()` sends it
 * and resolves with t0 (hrtime). Returns the time from t0 to the first and the last receipt.
 */
async function measure(id, expected, fire, timeoutMs = 10_000) {
  await Promise.all(procs.map((p, k) => p.call('expect', { id, count: expected[k] })));
  const done = procs.map((p, k) => (expected[k] === 0 ? Promise.resolve(undefined) : new Promise((resolve) => waiters[k].set(id, resolve))));
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const t0 = await fire();
  const outcome = await Promise.race([Promise.all(done), timeout]);
  clearTimeout(timer);
  waiters.forEach((w) => w.delete(id));
  if (outcome === 'timeout') {
    const got = await Promise.all(procs.map((p) => p.call('report', { id })));
    const stats = await Promise.all(procs.map((p) => p.call('stats')));
    throw new Error(`event ${id}: timed out; received ${got.map((g) => g.count).join('+')} of ${expected.join('+')}; client stats ${JSON.stringify(stats)}`);
  }
  const reports = outcome.filter(Boolean);
  const last = reports.reduce((m, r) => (r.last > m ? r.last : m), 0n);
  const first = reports.reduce((m, r) => (m === undefined || r.first < m ? r.first : m), undefined);
  return { lastMs: Number(last - t0) / 1e6, firstMs: Number(first - t0) / 1e6 };
}

// Socket indexes: the chat members are opened first in each process (0 .. perProc-1), the /ws sockets after.
const chatSocket = (i) => where(i);

let roomUuid;
const postFrame = (id, k) => JSON.stringify({ '@type': 'POST', Message: { RoomUuid: roomUuid, Message: text(id, k) } });
/** The same shape and size as the chat frame (Uuid, RoomUuid, Message, Author, Timestamp). */
const pushFrame = (id, k) =>
  JSON.stringify({
    pushToRoom: PUSH_ROOM,
    payload: { Uuid: randomUUID(), RoomUuid: roomUuid, Message: text(id, k), Author: 'member-0', Timestamp: String(Math.floor(Date.now() / 1000)) },
  });

/** `senders` members (0..s-1) send `count` POSTs in all, back to back; t0 = the earliest send. */
async function chatFire(id, count, senders) {
  const byProc = procs.map(() => []);
  for (let s = 0; s < senders; s++) {
    const { k, socket } = chatSocket(s);
    const frames = [];
    for (let j = s; j < count; j += senders) frames.push(postFrame(id, j));
    byProc[k].push({ socket, frames });
  }
  const replies = await Promise.all(procs.map((p, k) => (byProc[k].length ? p.call('send', { sends: byProc[k] }) : undefined)));
  return replies.filter(Boolean).reduce((m, r) => (m === undefined || r.t0 < m ? r.t0 : m), undefined);
}

async function pushFire(id, count) {
  const frames = Array.from({ length: count }, (_, j) => pushFrame(id, j));
  const t0 = process.hrtime.bigint();
  const receivers = await Promise.all(frames.map((f) => pub.publish(channelEnv.CHANNEL_PUSH, f)));
  if (receivers.some((r) => r !== 1)) throw new Error(`PUBLISH reached ${receivers.find((r) => r !== 1)} subscribers, expected 1 (cross-talk?)`);
  return t0;
}

const fire = { chat: (id, count, senders = 1) => chatFire(id, count, senders), push: (id, count) => pushFire(id, count) };

async function checkClients(what) {
  const stats = await Promise.all(procs.map((p) => p.call('stats')));
  const closedEarly = stats.reduce((n, s) => n + s.closedEarly, 0);
  const errors = stats.reduce((n, s) => n + s.errorFrames, 0);
  if (closedEarly) throw new Error(`${what}: ${closedEarly} sockets closed: ${JSON.stringify(stats.map((s) => s.closeCodes))}`);
  if (errors) throw new Error(`${what}: ${errors} error frames, first: ${stats.find((s) => s.firstError).firstError}`);
  return stats;
}

/** `warmup` + `events` single messages, `gap` apart; server CPU per event over the measured ones. */
async function latency(kind, server) {
  for (let i = 0; i < opt.warmup; i++) {
    await measure(++nextId, perProc, () => fire[kind](nextId, 1));
    await sleep(opt.gap);
  }
  const samples = [];
  const cpu0 = await server.call('cpu');
  for (let i = 0; i < opt.events; i++) {
    const id = ++nextId;
    samples.push(await measure(id, perProc, () => fire[kind](id, 1)));
    await sleep(opt.gap);
  }
  const cpu1 = await server.call('cpu');
  await checkClients(`${kind} latency`);
  const cpuMs = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1000 / opt.events;
  const last = samples.map((s) => s.lastMs);
  const r = { kind, last, first: samples.map((s) => s.firstMs), median: median(last), cpuMs };
  console.error(`  ${kind.padEnd(5)} latency: last median ${r.median.toFixed(2)} ms p95 ${percentile(last, 95).toFixed(2)} ms, first median ${median(r.first).toFixed(2)} ms, server CPU ${cpuMs.toFixed(2)} ms/message`);
  return r;
}

/** `messages` at once; all carry the same event id, so each process expects members x messages receipts. */
async function throughput(kind, senders, server) {
  const id = ++nextId;
  const cpu0 = await server.call('cpu');
  const r = await measure(
    id,
    perProc.map((n) => n * opt.messages),
    () => fire[kind](id, opt.messages, senders),
    60_000,
  );
  const cpu1 = await server.call('cpu');
  await checkClients(`${kind} throughput`);
  const s = r.lastMs / 1000;
  const out = { kind, senders, ms: r.lastMs, msgPerS: opt.messages / s, deliveriesPerS: (opt.messages * N) / s, cpuMs: (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1000 };
  console.error(
    `  ${kind.padEnd(5)} throughput (${kind === 'chat' ? `${senders} sender${senders > 1 ? 's' : ''}` : 'parent PUBLISH'}): ${opt.messages} messages in ${r.lastMs.toFixed(1)} ms: ${Math.round(out.msgPerS)} messages/s, ${Math.round(out.deliveriesPerS)} deliveries/s, server CPU ${out.cpuMs.toFixed(0)} ms`,
  );
  return out;
}

/** The run's room only: found by its room-key, checked against the Uuid seen in ROOM_UPDATE. */
async function cleanRedis() {
  const uuid = (await pub.get(ROOM_KEY)) ?? roomUuid;
  if (roomUuid && uuid !== roomUuid) console.error(`warning: ${ROOM_KEY} holds ${uuid}, the ROOM_UPDATEs said ${roomUuid}; deleting both`);
  const uuids = [...new Set([uuid, roomUuid].filter(Boolean))];
  const keys = [ROOM_KEY, ...uuids.flatMap((u) => ['room', 'messages', 'message', 'presence'].map((k) => `${CHAT_PREFIX}${k}:${u}`))];
  // Every POST must have been stored (history is capped at CHAT_HISTORY_LIMIT, 1,000 by default).
  const stored = roomUuid ? await pub.llen(`${CHAT_PREFIX}messages:${roomUuid}`) : 0;
  const deleted = await pub.del(...keys);
  console.error(`redis: ${stored} messages stored in the room; deleted ${deleted} keys of the run's room (${keys.join(', ')})`);
  return { deleted, keys, stored };
}

// Read before the run: the source tree may move while it runs.
const m = machine();
const started = Date.now();
const clock = await clockCheck(procs);
console.error(`clock check: IPC mark seen by the client processes ${clock.min.toFixed(3)}..${clock.max.toFixed(3)} ms later (>= 0: one clock)`);

console.error(`signing ${N} tokens...`);
const tokens = Array.from({ length: N }, (_, i) => token(i));
const server = startServer();
const lat = { chat: [], push: [] };
const firsts = { chat: [], push: [] };
const rounds = { chat: [], push: [] };
const cpu = { chat: [], push: [] };
const tput = [];
let joinMs, joinCpuMs, wsMs, joinUpdates, cleanup;
try {
  const { port } = await server.once('ready');
  await waitSubscribed(pub, channelEnv.CHANNEL_CHAT);
  await waitSubscribed(pub, channelEnv.CHANNEL_PUSH);

  // Members: subscribe, then JOIN, each waiting for its answer; in process i % procs.
  const chatFrames = procs.map(() => []);
  const wsFrames = procs.map(() => []);
  for (let i = 0; i < N; i++) {
    const sub = JSON.stringify({ '@type': 'subscribe', jwt: tokens[i] });
    chatFrames[where(i).k].push([sub, JSON.stringify({ '@type': 'JOIN', Room: ROOM_REF })]);
    wsFrames[where(i).k].push([sub, JSON.stringify({ '@type': 'joinRoom', room: PUSH_ROOM })]);
  }
  const cpu0 = await server.call('cpu');
  const t = Date.now();
  const chatOpened = await Promise.all(
    procs.map((p, k) =>
      p.call('open', { url: `ws://127.0.0.1:${port}/chat`, frames: chatFrames[k], ackMatch: ['"@type":"subscribed"', '"@type":"ROOM_UPDATE"'], track: true, concurrency: 50 }, 120_000),
    ),
  );
  const failed = chatOpened.reduce((n, o) => n + o.failed, 0);
  if (failed) throw new Error(`chat: ${failed} members failed: ${chatOpened.find((o) => o.failed).firstError}`);
  roomUuid = JSON.parse(chatOpened[0].sampleAck).Room.Uuid;
  console.error(`${N} members joined room ${roomUuid} in ${Date.now() - t} ms; waiting for the ROOM_UPDATEs...`);
  joinUpdates = await waitRoomSettled(procs, N, 120_000);
  joinMs = Date.now() - t;
  const cpu1 = await server.call('cpu');
  joinCpuMs = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1000;
  console.error(`room settled after ${joinMs} ms: ${joinUpdates} ROOM_UPDATE frames delivered, each member's last lists ${N} users; server CPU ${joinCpuMs.toFixed(0)} ms`);
  await checkClients('join');

  if (PHASES.has('latency') || PHASES.has('throughput')) {
    const t2 = Date.now();
    const wsOpened = await Promise.all(
      procs.map((p, k) => p.call('open', { url: `ws://127.0.0.1:${port}/ws`, frames: wsFrames[k], ackMatch: ['"@type":"subscribed"', '"joined":true'], track: true }, 120_000)),
    );
    const wsFailed = wsOpened.reduce((n, o) => n + o.failed, 0);
    if (wsFailed) throw new Error(`ws: ${wsFailed} sockets failed: ${wsOpened.find((o) => o.failed).firstError}`);
    wsMs = Date.now() - t2;
    console.error(`${N} /ws sockets subscribed and in push room ${PUSH_ROOM} in ${wsMs} ms`);
    await checkClients('setup');
    await sleep(300);

    // Socket indexes as assumed by chatSocket: chat members first in each process.
    if (chatOpened.some((o, k) => o.open !== perProc[k]) || wsOpened.some((o, k) => o.open !== 2 * perProc[k])) throw new Error('unexpected socket counts per process');
  }

  for (let round = 1; PHASES.has('latency') && round <= opt.rounds; round++) {
    console.error(`round ${round}`);
    const order = round % 2 ? ['push', 'chat'] : ['chat', 'push'];
    for (const kind of order) {
      const r = await latency(kind, server);
      lat[kind].push(...r.last);
      firsts[kind].push(...r.first);
      rounds[kind].push(r.median);
      cpu[kind].push(r.cpuMs);
    }
  }
  if (PHASES.has('throughput')) {
    console.error('throughput');
    tput.push(await throughput('push', 0, server));
    await sleep(500);
    tput.push(await throughput('chat', 1, server));
    await sleep(500);
    if (opt.senders > 1) tput.push(await throughput('chat', opt.senders, server));
  }
} finally {
  // Server first: closing 1,000 members while it runs would announce ~1,000 ROOM_UPDATEs.
  await server.stop();
  await Promise.all(procs.map((p) => p.call('close').catch(() => undefined)));
  await Promise.all(procs.map((p) => p.stop()));
  try {
    cleanup = await cleanRedis();
  } finally {
    await pub.quit();
  }
}

const fmt = (x) => x.toFixed(2);
const int = (x) => Math.round(x).toLocaleString('en-US');
console.log(`\n## chat-room: one room of ${N} members\n`);
printMachine(m);
console.log(`client processes: ${opt.procs}; clock check (IPC mark, parent -> clients): ${fmt(clock.min)}..${fmt(clock.max)} ms`);
console.log(
  `join: ${N} members subscribed and joined, room settled in ${(joinMs / 1000).toFixed(1)} s (${int(joinUpdates)} ROOM_UPDATE frames, ${fmt(joinUpdates / N)} per member; server CPU ${int(joinCpuMs)} ms)` +
    (wsMs === undefined ? '' : `; ${N} /ws sockets in the push room in ${(wsMs / 1000).toFixed(1)} s`),
);
if (opt.json) writeFileSync(opt.json, JSON.stringify({ members: N, window: opt.window || 'default', joinMs, joinUpdates, joinCpuMs }));
const posted = (PHASES.has('latency') ? opt.rounds * (opt.warmup + opt.events) : 0) + (PHASES.has('throughput') ? opt.messages * (opt.senders > 1 ? 2 : 1) : 0);
console.log(`redis: ${cleanup.stored} messages stored in the room (${posted} POSTed; history capped at CHAT_HISTORY_LIMIT, 1,000 by default); cleanup: ${cleanup.deleted} keys deleted of ${cleanup.keys.length} (the presence key is gone once the server withdraws at shutdown)`);
console.log(`duration: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
if (!PHASES.has('latency') && !PHASES.has('throughput')) process.exit(0);
console.log(`### latency: send -> last member's receipt (${opt.events} messages per round after ${opt.warmup} warm-up, ${opt.gap} ms apart, ${opt.rounds} rounds, pooled)\n`);
console.log('| path | receivers | samples | last receipt median (ms) | p95 (ms) | first receipt median (ms) | per-round medians (ms) | chat / baseline (pooled median) | per-round ratios | server CPU ms/message (median of rounds) |');
console.log('|---|---:|---:|---:|---:|---:|---|---:|---|---:|');
for (const [kind, label] of [
  ['push', 'baseline: push to room (`switchboard.push` `pushToRoom`, /ws)'],
  ['chat', 'chat: member POST (/chat)'],
]) {
  const xs = lat[kind];
  const ratio = kind === 'chat' ? `${fmt(median(xs) / median(lat.push))}x` : '';
  const per = kind === 'chat' ? rounds.chat.map((x, i) => fmt(x / rounds.push[i])).join(', ') : '';
  console.log(`| ${label} | ${N} | ${xs.length} | ${fmt(median(xs))} | ${fmt(percentile(xs, 95))} | ${fmt(median(firsts[kind]))} | ${rounds[kind].map(fmt).join(', ')} | ${ratio} | ${per} | ${fmt(median(cpu[kind]))} |`);
}
console.log(`\n### throughput: ${opt.messages} messages at once, first send -> last member's receipt of the last message\n`);
console.log('| path | senders | messages | receivers | elapsed (ms) | messages/s | deliveries/s | server CPU (ms) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of tput) {
  const label = r.kind === 'push' ? 'baseline: push to room, PUBLISHed back to back' : 'chat: POSTs sent back to back';
  console.log(`| ${label} | ${r.kind === 'push' ? '(parent)' : r.senders} | ${opt.messages} | ${N} | ${r.ms.toFixed(1)} | ${int(r.msgPerS)} | ${int(r.deliveriesPerS)} | ${r.cpuMs.toFixed(0)} |`);
}
process.exit(0);
