/**
 * What the benchmarks share: child processes driven over IPC (request / reply with ids),
 * statistics, and a description of the machine that goes next to every result.
 */
import { fork } from 'node:child_process';
import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';

export const LIB = fileURLToPath(new URL('.', import.meta.url));

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Every child ever started: killed if the bench exits early, so nothing is left behind. */
const children = new Set();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/**
 * A child process running one of the `lib/*.mjs` workers. `call(cmd, args)` sends a
 * request `{seq, cmd, ...args}` and resolves with the reply `{seq, result}`; messages
 * without a `seq` go to `on(type, fn)`.
 * IPC uses the `advanced` serialization so that hrtime BigInts cross unchanged.
 */
export class Child {
  constructor(script, argv = [], { execArgv = [], env = {}, name = script } = {}) {
    this.name = name;
    this.proc = fork(`${LIB}/${script}`, argv, {
      execArgv,
      env: { ...process.env, ...env },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(this.proc);
    this.seq = 0;
    this.pending = new Map();
    this.listeners = new Map();
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited.then(({ code, signal }) => {
      children.delete(this.proc);
      for (const { reject } of this.pending.values()) reject(new Error(`${this.name} exited (${code ?? signal})`));
      this.pending.clear();
    });
    this.proc.on('message', (msg) => {
      if (msg.seq !== undefined && this.pending.has(msg.seq)) {
        const { resolve, reject, timer } = this.pending.get(msg.seq);
        this.pending.delete(msg.seq);
        clearTimeout(timer);
        if (msg.error) reject(new Error(`${this.name}: ${msg.error}`));
        else resolve(msg.result);
      } else if (msg.type) {
        this.listeners.get(msg.type)?.(msg);
      }
    });
  }

  on(type, fn) {
    this.listeners.set(type, fn);
  }

  /** Resolves with the first message of `type` (e.g. `ready`). */
  once(type, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${type} within ${timeoutMs} ms`)), timeoutMs);
      this.on(type, (msg) => {
        clearTimeout(timer);
        this.listeners.delete(type);
        resolve(msg);
      });
      this.exited.then(({ code, signal }) => reject(new Error(`${this.name} exited (${code ?? signal}) before ${type}`)));
    });
  }

  call(cmd, args = {}, timeoutMs = 60_000) {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, { resolve, reject, timer });
      this.proc.send({ ...args, seq, cmd });
    });
  }

  /** Asks the worker to exit, then kills it if it has not within `graceMs`. */
  async stop(graceMs = 3000) {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    if (this.proc.connected) this.proc.send({ cmd: 'exit' });
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** Replies to `Child.call` requests with `handlers[cmd](msg)`; exits with the parent. */
export function serve(handlers) {
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (msg) => {
    if (msg.cmd === 'exit') {
      await handlers.exit?.();
      process.exit(0);
    }
    const handler = handlers[msg.cmd];
    try {
      if (!handler) throw new Error(`unknown command ${msg.cmd}`);
      const result = await handler(msg);
      process.send({ seq: msg.seq, result });
    } catch (err) {
      process.send({ seq: msg.seq, error: err?.stack ?? String(err) });
    }
  });
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p95 of 20 samples is the 19th smallest). */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** `--name value` arguments with defaults, e.g. `args({ n: 2000 })`. */
export function args(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in defaults)) throw new Error(`unknown option --${key}; known: ${Object.keys(defaults).join(', ')}`);
    const raw = argv[++i];
    out[key] = typeof defaults[key] === 'number' ? Number(raw) : raw;
  }
  return out;
}

/** Channel names unique to one run (like the tests' `testChannels()`), so nothing else on the Redis interferes. */
export function benchChannels() {
  const tag = randomBytes(4).toString('hex');
  const names = ['TREE', 'META', 'TASKS', 'IDM', 'ACTIVITY', 'CHAT', 'PUSH', 'PUSH_COMPAT'];
  return { tag, env: Object.fromEntries(names.map((n) => [`CHANNEL_${n}`, `bench.${tag}.${n.toLowerCase()}`])) };
}

/** Where a service of the run `tag` keeps its Redis keys (history, revocation markers, chat): all under `bench.<tag>.` / `bench:<tag>:`. */
export function benchKeys(tag) {
  return { HISTORY_KEY: `bench.${tag}.history`, REVOCATIONS_KEY: `bench.${tag}.revoked`, CHAT_KEY_PREFIX: `bench:${tag}:chat:` };
}

/** Deletes every key matching `pattern`, by SCAN (never KEYS on a big database); answers how many. */
export async function deleteMatching(redis, pattern) {
  let [cursor, deleted] = ['0', 0];
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length) deleted += await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}

/** Deletes every key the services of the run `tag` wrote (see benchKeys). */
export async function deleteBenchKeys(redis, tag) {
  for (const pattern of [`bench.${tag}.*`, `bench:${tag}:*`]) await deleteMatching(redis, pattern);
}

/** The lines that go next to a result: machine, runtime, command, date. */
export function machine() {
  const sh = (cmd) => {
    try {
      return execSync(cmd, { encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  return {
    date: new Date().toISOString(),
    nproc: sh('nproc'),
    cpu: os.cpus()[0]?.model ?? '?',
    memory: sh('free -g | sed -n 2p').replace(/\s+/g, ' '),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    commit: `${sh('git rev-parse --short HEAD')}${sh('git status --porcelain -- src') ? ' + uncommitted changes in src/' : ''}`,
    command: `node ${process.argv.slice(1).map((a) => a.replace(process.cwd() + '/', '')).join(' ')}`,
  };
}

export function printMachine(m) {
  console.log(`date: ${m.date}`);
  console.log(`machine: nproc=${m.nproc}, cpu="${m.cpu}", free -g: "${m.memory}", ${m.os}`);
  console.log(`node: ${m.node}; source tree at start: ${m.commit}`);
  console.log(`command: ${m.command}`);
}

/** The clock check: a mark sent over IPC must be seen later (>= 0) and soon (IPC latency) by each child. */
export async function clockCheck(procs) {
  const deltas = [];
  for (let i = 0; i < 5; i++) {
    for (const p of procs) {
      const { sent, now } = await p.call('clock', { sent: process.hrtime.bigint() });
      deltas.push(Number(now - sent) / 1e6);
    }
  }
  if (Math.min(...deltas) < 0) throw new Error(`hrtime not comparable across processes: ${deltas}`);
  return { min: Math.min(...deltas), max: Math.max(...deltas) };
}

/** Waits until someone is subscribed to `channel` (PUBSUB NUMSUB through the `pub` client). */
export async function waitSubscribed(pub, channel) {
  for (let i = 0; i < 250; i++) {
    const [, n] = await pub.pubsub('NUMSUB', channel);
    if (Number(n) >= 1) return;
    await sleep(20);
  }
  throw new Error(`nobody subscribed to ${channel}`);
}

/** The environment of a Switchboard under test: loopback, random port, quiet, plus `extra`. */
export function serviceEnv(secret, extra = {}) {
  // Thousands of sockets from one address, the same user on many: the admission limits would refuse them.
  return { HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', JWT_SECRET: secret, API_KEY: 'bench-api-key', MAX_CONNECTIONS: '0', MAX_CONNECTIONS_PER_ADDRESS: '0', MAX_SESSIONS_PER_USER: '0', ...extra };
}

/**
 * Polls the client processes until every member's last ROOM_UPDATE lists all `n` users and
 * none arrived since the previous poll; returns the ROOM_UPDATE frames received in all.
 */
export async function waitRoomSettled(procs, n, timeoutMs) {
  let previous = -1;
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(250)) {
    const states = await Promise.all(procs.map((p) => p.call('roomState', {}, 30_000)));
    const seen = states.reduce((a, s) => a + s.seen, 0);
    const min = Math.min(...states.map((s) => s.minUsers));
    const updates = states.reduce((a, s) => a + s.roomUpdates, 0);
    if (seen === n && min === n && updates === previous) return updates;
    previous = updates;
  }
  throw new Error(`the chat room did not settle within ${timeoutMs / 1000} s (every member should see a ROOM_UPDATE listing all ${n} members)`);
}
