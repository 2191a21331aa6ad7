/**
 * Heap per idle socket, connected and subscribed, for three servers in the same run:
 *
 *   (a) ws           bare `ws` WebSocketServer (the baseline)
 *   (b) switchboard  the built service's `/ws` (SocketAdapter + a session per socket)
 *   (c) nest-ws      stock @nestjs/platform-ws WsAdapter with a trivial @WebSocketGateway
 *
 * Each server runs in its own process started with --expose-gc, the clients in another.
 * Per repetition and server: warm up (open and close `warmup` sockets), gc, read heapUsed,
 * open N sockets and subscribe each (the same `{"@type":"subscribe","jwt":...}` frame to
 * every server; (c) gets the Nest form `{"event":"subscribe","data":{...}}`), gc, read
 * heapUsed again. Bytes per socket = difference / N. Median of the repetitions, ratio to (a).
 *
 *   npm run build && node bench/idle-sockets.mjs [--n 2000] [--reps 3] [--warmup 200]
 */
import { JwtService } from '@nestjs/jwt';
import { randomBytes } from 'node:crypto';
import { Child, args, machine, median, printMachine, sleep, serviceEnv } from './lib/common.mjs';

const opt = args({ n: 2000, reps: 3, warmup: 200, servers: 'ws,switchboard,nest-ws,switchboard-connected' });
const KINDS = opt.servers.split(',');
const LABEL = {
  ws: '(a) bare ws',
  switchboard: '(b) Switchboard /ws, subscribed',
  'nest-ws': '(c) Nest WsAdapter + trivial gateway',
  'switchboard-connected': '(b0) Switchboard /ws, connected, never subscribed',
};
/** `switchboard-connected`: the same server, sockets that never send a frame (adapter + bare session). */
const SERVER_OF = { 'switchboard-connected': 'switchboard' };

const SECRET = 'bench-' + randomBytes(6).toString('hex');
const jwt = new JwtService({ secret: SECRET });

/** A plausible identity: a shared workspace and a personal one, two roles. */
function token(i) {
  return jwt.sign(
    {
      sub: `uuid-user-${i}`,
      name: `user-${i}`,
      profile: 'standard',
      roles: ['ROOT_GROUP', `user-${i}`],
      workspaces: [
        { uuid: 'w-common', slug: 'common-files', label: 'Common Files', roots: [{ uuid: 'r-common', path: 'pydiods1/common' }] },
        { uuid: `w-personal-${i}`, slug: 'personal-files', label: 'My Files', roots: [{ uuid: `r-personal-${i}`, path: `personal/user-${i}` }] },
      ],
    },
    { expiresIn: 3600 },
  );
}

const total = opt.n + opt.warmup;
console.error(`signing ${total} tokens...`);
const tokens = Array.from({ length: total }, (_, i) => token(i));
const frameFor = (kind, jwtToken) =>
  kind === 'nest-ws' ? JSON.stringify({ event: 'subscribe', data: { jwt: jwtToken } }) : JSON.stringify({ '@type': 'subscribe', jwt: jwtToken });

const serverEnv = serviceEnv(SECRET);

const clients = new Child('clients.mjs', [], { name: 'clients' });
await clients.once('ready');

async function measure(kind) {
  const server = new Child('server.mjs', [SERVER_OF[kind] ?? kind], {
    name: kind,
    execArgv: ['--expose-gc'],
    env: { BENCH_SERVER_OPTS: JSON.stringify({ env: serverEnv }) },
  });
  try {
    const { port } = await server.once('ready');
    const url = `ws://127.0.0.1:${port}/ws`;
    const ackMatch = kind === 'nest-ws' ? 'subscribed' : '"@type":"subscribed"';
    const subscribe = kind !== 'switchboard-connected';
    const frames = tokens.map((t) => (subscribe ? frameFor(kind, t) : undefined));

    // Warm-up: first connections pay for lazy compilation and one-off caches.
    const w = await clients.call('open', { url, frames: frames.slice(opt.n), ackMatch: subscribe ? ackMatch : undefined });
    if (w.failed) throw new Error(`${kind} warm-up: ${w.failed} failed: ${w.firstError}`);
    await clients.call('close');
    await sleep(300);

    const before = await server.call('heap');
    if (!before.gc) throw new Error('server has no gc(): --expose-gc missing');
    const r = await clients.call('open', { url, frames: frames.slice(0, opt.n), ackMatch: subscribe ? ackMatch : undefined });
    if (r.failed) throw new Error(`${kind}: ${r.failed} of ${opt.n} failed: ${r.firstError}`);
    await sleep(200);
    const after = await server.call('heap');
    const stats = await clients.call('stats');
    if (stats.open !== opt.n) throw new Error(`${kind}: ${stats.open} sockets open, expected ${opt.n}`);
    await clients.call('close');
    return {
      heap: (after.heapUsed - before.heapUsed) / opt.n,
      rss: (after.rss - before.rss) / opt.n,
      external: (after.external - before.external) / opt.n,
      openMs: r.ms,
    };
  } finally {
    await server.stop();
  }
}

const results = Object.fromEntries(KINDS.map((k) => [k, []]));
// Read before the run: the source tree may move while it runs (others commit and rebuild).
const m = machine();
const started = Date.now();
for (let rep = 1; rep <= opt.reps; rep++) {
  // Interleaved (a, b, c, a, b, c...) so that drift over the run touches every server alike.
  for (const kind of KINDS) {
    const r = await measure(kind);
    results[kind].push(r);
    console.error(`rep ${rep} ${kind.padEnd(21)} heap ${r.heap.toFixed(0).padStart(6)} B/socket  rss ${r.rss.toFixed(0).padStart(6)} B/socket  (opened ${opt.n} in ${r.openMs.toFixed(0)} ms)`);
  }
}
await clients.stop();

console.log(`\n## idle-sockets: heap per idle, subscribed socket (N=${opt.n}, ${opt.reps} reps, median)\n`);
printMachine(m);
console.log(`duration: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
console.log('| server | heap B/socket (median) | runs | ratio to (a) | RSS B/socket (median, noisy) |');
console.log('|---|---:|---|---:|---:|');
const base = KINDS.includes('ws') ? median(results.ws.map((r) => r.heap)) : undefined;
for (const kind of KINDS) {
  const heaps = results[kind].map((r) => r.heap);
  const med = median(heaps);
  const ratio = base ? (med / base).toFixed(2) + 'x' : 'n/a';
  console.log(`| ${LABEL[kind] ?? kind} | ${med.toFixed(0)} | ${heaps.map((h) => h.toFixed(0)).join(', ')} | ${ratio} | ${median(results[kind].map((r) => r.rss)).toFixed(0)} |`);
}
process.exit(0);
