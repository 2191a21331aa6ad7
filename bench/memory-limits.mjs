/**
 * Peak RSS of a service process under two of issue 19's scenarios, for this tree's build and,
 * in the same run, a baseline build (`--baseline DIR`, a built copy of main):
 *
 * - chat: `--messages` (200) messages of 16 KB in one room (4,000 four-byte characters each:
 *   CHAT_MAX_MESSAGE_LENGTH's default), then `--sockets` (30) members whose sockets never
 *   read (paused) send HISTORY (Limit `--limit`, 200) `--rate` (18) times a second each for
 *   `--seconds` (20), while a reading member of another room pages that room's whole history
 *   and receives a live message posted at the end (it must get everything).
 * - lookups: `--lookups` (10) pathless node events at once, each looked up through
 *   NODE_LOOKUP_URL, whose server answers `--lookup-mb` (40) MB of JSON.
 *
 * Each scenario runs on a fresh service process (`node --max-old-space-size=<--heap> <dir>/dist/main.js`,
 * 384 as in the issue; Redis for the chat, embedded for the lookups), with the chart's other
 * defaults. RSS: the process's VmHWM after the scenario, its peak having been reset
 * (`/proc/<pid>/clear_refs`) just before it starts; "idle" is VmRSS at that moment. The
 * budget is the chart's limit, `--budget` (512) MiB, given to the service as MEMORY_BUDGET_MB
 * (the baseline ignores it). `--rounds` (1) rounds alternate the builds; medians, and the
 * ratio of each build's growth (peak - idle) to the baseline's. BENCH_DEBUG=1 prints the
 * service's memory metrics at the end of each chat round.
 *
 *   npm run build
 *   mkdir -p /tmp/sb-main && git archive main | tar -x -C /tmp/sb-main && ln -s "$PWD/node_modules" /tmp/sb-main/node_modules && (cd /tmp/sb-main && npx tsc -p tsconfig.build.json)
 *   node bench/memory-limits.mjs --baseline /tmp/sb-main [--only chat,lookups] [--rounds 1] [--sockets 30] [--seconds 20] [--redis redis://127.0.0.1:6379]
 */
import { JwtService } from '@nestjs/jwt';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import process from 'node:process';
import { WebSocket } from 'ws';
import { args, benchChannels, machine, median, printMachine, serviceEnv, sleep } from './lib/common.mjs';
import { exited, startService, watchPeak } from './lib/proc.mjs';

const opt = args({
  baseline: '',
  only: 'chat,lookups',
  rounds: 1,
  heap: 384,
  budget: 512,
  sockets: 30,
  messages: 200,
  limit: 200,
  rate: 18,
  seconds: 20,
  lookups: 10,
  'lookup-mb': 40,
  redis: 'redis://127.0.0.1:6379',
});
const SECRET = 'bench-' + randomBytes(6).toString('hex');
const jwt = new JwtService({ secret: SECRET });
const token = (name) => jwt.sign({ sub: `u-${name}`, name }, { expiresIn: 3600 });
const MiB = 1024 * 1024;
const variants = [
  ...(opt.baseline ? [{ name: 'baseline', dir: resolve(opt.baseline) }] : []),
  { name: 'this tree', dir: resolve('.') },
];

// ------------------------------------------------------------------ the service process and its memory

async function startServer(dir, env) {
  const s = await startService(dir, { heap: opt.heap, env: serviceEnv(SECRET, { MEMORY_BUDGET_MB: String(opt.budget), ...env }) });
  return { ...s, wsUrl: s.ws };
}


async function stopServer({ proc }) {
  if (exited(proc)) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await gone;
}


// ------------------------------------------------------------------ clients

class Client {
  frames = [];
  waiters = [];

  static async open(url, name) {
    const c = new Client();
    c.socket = new WebSocket(url);
    c.socket.on('message', (data) => {
      const f = JSON.parse(data.toString());
      c.frames.push(f);
      for (const w of [...c.waiters]) {
        if (!w.match(f)) continue;
        c.waiters.splice(c.waiters.indexOf(w), 1);
        w.resolve(f);
      }
    });
    c.socket.on('error', () => {});
    await new Promise((ok, ko) => (c.socket.once('open', ok), c.socket.once('error', ko)));
    await c.ask({ '@type': 'subscribe', jwt: token(name) }, (f) => f['@type'] === 'subscribed' || f['@type'] === 'error');
    return c;
  }

  next(match, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer in time; last frames: ${JSON.stringify(this.frames.filter((f) => f.Uuid === undefined).slice(-3)).slice(0, 800) + " n=" + this.frames.length + " closed=" + this.socket.readyState}`)), timeoutMs);
      this.waiters.push({ match, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  ask(frame, match, timeoutMs) {
    const answer = this.next(match, timeoutMs);
    this.socket.send(JSON.stringify(frame));
    return answer;
  }

  join(room) {
    return this.ask({ '@type': 'JOIN', Room: room }, (f) => f['@type'] === 'ROOM_UPDATE' || f['@type'] === 'error');
  }

  close() {
    this.socket.terminate();
  }
}

const history = (room, Offset, Limit) => ({ '@type': 'HISTORY', Room: room, Message: { Message: JSON.stringify({ Offset, Limit }) } });

/** Pages the room's history from the newest, following MAY_HAVE_MORE; true when every message came. */
async function readWholeHistory(reader, room, uuid) {
  const seen = new Set();
  let offset = 0;
  for (let pages = 0; pages < 1000 && seen.size < opt.messages; pages++) {
    const end = await reader.ask(history(room, offset, 40), (f) => {
      if (f.RoomUuid === uuid && f.Uuid) seen.add(f.Message.slice(0, 4));
      return (f['@type'] === 'MAY_HAVE_MORE' && f.RoomUuid === uuid) || f['@type'] === 'error' || seen.size === opt.messages;
    });
    if (end['@type'] === 'error') await sleep(100); // refused: the same page again, later
    else if (end['@type'] === 'MAY_HAVE_MORE') offset = end.Offset;
  }
  return seen.size === opt.messages;
}

// ------------------------------------------------------------------ scenarios

async function chatScenario(dir) {
  const prefix = `bench:${randomBytes(4).toString('hex')}:chat:`;
  const { env: channels } = benchChannels();
  const server = await startServer(dir, {
    ...channels,
    HISTORY_KEY: `${prefix}history`,
    REVOCATIONS_KEY: `${prefix}revoked`,
    REDIS_URL: opt.redis,
    CHAT_KEY_PREFIX: prefix,
    // Filling the room fast; the rates play no part in what is measured.
    CHAT_MESSAGE_RATE: '1000',
    CHAT_USER_MESSAGE_RATE: '1000',
    CHAT_USER_JOIN_RATE: '1000',
    CLIENT_FRAME_RATE: '1000',
    CLIENT_FRAME_BURST: '1000',
  });
  const clients = [];
  try {
    const room = { Type: 'GLOBAL', RoomTypeObject: 'big' };
    const other = { Type: 'GLOBAL', RoomTypeObject: 'reading' };
    const writer = await Client.open(`${server.wsUrl}/chat`, 'writer');
    clients.push(writer);
    const big = (await writer.join(room)).Room;
    const quiet = (await writer.join(other)).Room;
    const text = (i) => `${String(i).padStart(4, '0')} ${'😀'.repeat(3995)}`;
    for (let i = 0; i < opt.messages; i++) {
      await writer.ask({ '@type': 'POST', Message: { RoomUuid: big.Uuid, Message: text(i) } }, (f) => f.Uuid !== undefined && f.RoomUuid === big.Uuid);
    }
    for (let i = 0; i < opt.messages; i++) {
      await writer.ask({ '@type': 'POST', Message: { RoomUuid: quiet.Uuid, Message: text(i) } }, (f) => f.Uuid !== undefined && f.RoomUuid === quiet.Uuid);
    }
    const readers = [];
    for (let i = 0; i < opt.sockets; i++) {
      const c = await Client.open(`${server.wsUrl}/chat`, `idle${i}`);
      clients.push(c);
      await c.join(room);
      c.socket._socket.pause();
      readers.push(c);
    }
    const reader = await Client.open(`${server.wsUrl}/chat`, 'reader');
    clients.push(reader);
    await reader.join(other);
    await sleep(1000);
    const { idle, peak } = watchPeak(server.proc.pid);

    const started = Date.now();
    const timers = readers.map((c) => setInterval(() => c.socket.send(JSON.stringify(history(room, 0, opt.limit))), 1000 / opt.rate));
    // Meanwhile the reading member pages the other room's whole history, again and again.
    let passes = 0;
    let complete = 0;
    try {
      while (Date.now() - started < opt.seconds * 1000) {
        passes++;
        if (await readWholeHistory(reader, other, quiet.Uuid)) complete++;
      }
    } catch (err) {
      if (!exited(server.proc)) throw err;
    }
    for (const t of timers) clearInterval(t);
    if (exited(server.proc)) return { idle, peak: peak(), alive: false, note: `died (${server.proc.exitCode ?? server.proc.signalCode}) after ${((Date.now() - started) / 1000).toFixed(1)} s` };
    const live = `live ${randomBytes(4).toString('hex')}`;
    await writer.ask({ '@type': 'POST', Message: { RoomUuid: quiet.Uuid, Message: live } }, (f) => f.Message === live);
    const gotLive = await reader.next((f) => f.Message === live, 10_000).then(() => true, () => reader.frames.some((f) => f.Message === live));
    const alive = !exited(server.proc);
    if (process.env.BENCH_DEBUG) {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      process.stderr.write(readFileSync(`/proc/${server.proc.pid}/smaps_rollup`, 'utf8'));
      process.stderr.write(text.split('\n').filter((l) => /^(nodejs_heap_size|nodejs_external|process_resident|switchboard_memory|switchboard_chat_history|nodejs_heap_space_size_used)/.test(l)).join('\n') + '\n');
    }
    return { idle, peak: peak(), alive, note: `reader ${complete}/${passes} full passes, ${reader.frames.filter((f) => f['@type'] === 'error').length} busy, live ${gotLive ? 'ok' : 'MISSING'}` };
  } finally {
    for (const c of clients) c.close();
    await stopServer(server);
    const redis = new Redis(opt.redis);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  }
}

async function lookupScenario(dir) {
  const body = Buffer.alloc(opt['lookup-mb'] * 1e6, ' ');
  body.write('{"Path":"pydiods1/projects/a.txt","pad":"');
  body.write('"}', body.length - 2);
  let requests = 0;
  let done = 0;
  const answers = createServer((req, res) => {
    requests++;
    res.on('close', () => done++);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
  await new Promise((r) => answers.listen(0, '127.0.0.1', r));
  const server = await startServer(dir, { NODE_LOOKUP_URL: `http://127.0.0.1:${answers.address().port}/nodes` });
  try {
    await sleep(1000);
    const { idle, peak } = watchPeak(server.proc.pid);
    const tree = 'topic.pydio.tree.nodes.changes';
    await Promise.all(
      Array.from({ length: opt.lookups }, (_, i) =>
        fetch(`${server.url}/api/publish`, {
          method: 'POST',
          headers: { authorization: 'Bearer bench-api-key', 'content-type': 'application/json' },
          body: JSON.stringify({ channel: tree, data: { Type: 'UPDATE_USER_META', Target: { Uuid: `n-${i}`, MetaStore: { comments: '1' } } } }),
        }),
      ),
    );
    for (const end = Date.now() + 30_000; (requests < opt.lookups || done < requests) && Date.now() < end; ) await sleep(50);
    await sleep(500);
    return { idle, peak: peak(), alive: !exited(server.proc), note: `${requests} lookups` };
  } finally {
    await stopServer(server);
    answers.closeAllConnections();
    await new Promise((r) => answers.close(r));
  }
}

// ------------------------------------------------------------------ run

const scenarios = { chat: chatScenario, lookups: lookupScenario };
const only = opt.only.split(',');
const results = [];
for (const name of only) {
  if (!scenarios[name]) throw new Error(`unknown scenario ${name}`);
  for (let r = 0; r < opt.rounds; r++) {
    for (const v of variants) {
      process.stderr.write(`${name} / ${v.name} / round ${r + 1}\n`);
      results.push({ scenario: name, variant: v.name, ...(await scenarios[name](v.dir)) });
    }
  }
}

printMachine(machine());
console.log(`budget: ${opt.budget} MiB (MEMORY_BUDGET_MB), --max-old-space-size=${opt.heap}; chat: ${opt.sockets} paused sockets x HISTORY Limit ${opt.limit} at ${opt.rate}/s for ${opt.seconds} s over ${opt.messages} x 16 KB; lookups: ${opt.lookups} x ${opt['lookup-mb']} MB\n`);
console.log(`medians of ${opt.rounds} round(s); "growth": peak - idle, and its ratio to the baseline's\n`);
console.log('| scenario | build | idle RSS (MiB) | peak RSS (MiB) | growth (MiB) | growth / baseline | under budget | alive | per round |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const name of only) {
  const growth = (v) => median(results.filter((r) => r.scenario === name && r.variant === v.name).map((r) => r.peak - r.idle)) / MiB;
  for (const v of variants) {
    const rows = results.filter((r) => r.scenario === name && r.variant === v.name);
    const idle = median(rows.map((r) => r.idle)) / MiB;
    const peak = median(rows.map((r) => r.peak)) / MiB;
    const ratio = opt.baseline ? (growth(v) / growth(variants[0])).toFixed(2) : '-';
    const peaks = rows.map((r) => (r.peak / MiB).toFixed(0)).join(', ');
    console.log(`| ${name} | ${v.name} | ${idle.toFixed(0)} | ${peak.toFixed(0)} | ${growth(v).toFixed(0)} | ${ratio} | ${peak < opt.budget ? 'yes' : 'NO'} | ${rows.every((r) => r.alive) ? 'yes' : 'NO'} | peaks ${peaks}; ${rows.map((r) => r.note).join('; ')} |`);
  }
}
process.exit(0);
