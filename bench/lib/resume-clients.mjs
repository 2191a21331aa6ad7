/**
 * `/ws` clients that resume, for resume-storm.mjs and resume-window.mjs, driven over IPC
 * (see common.mjs `Child`). Frames are not parsed: bench entries carry `"bench":<i>`, probes
 * `"probe":<i>`, marks `"mark":<i>`, and every event frame ends with `"@offset":"..."`.
 *
 *   subscribe {url, jwts, localAddress, concurrency}  opens one subscribed socket per token
 *   waitMark  {mark, timeoutMs}   waits until every socket has received mark `mark`; replies
 *             with each socket's last offset (the mark's)
 *   close     {}                  closes every socket
 *   storm     {url, clients: [{jwt, resumeFrom, expect}], localAddress}  every client connects at
 *             once (a failed connect is tried again, up to 5 times, after 100-500 ms); `connectMs`: when its socket opened and subscribes with `resumeFrom`; per client: ms from the storm's start (the
 *             hrtime `t0` given) to its `resumed` frame, recovered or the reason, and whether the
 *             replay was exactly `expect` (a list of bench entry numbers, in order)
 *   probeOpen {url, jwt}          one more socket (another user's): the receipt time of each probe
 *   probes    {}                  probe number -> receipt hrtime, since the last call
 *   clock     {}                  this process's hrtime
 */
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { WebSocket } from 'ws';
import { serve } from './common.mjs';

const OFFSET = /"@offset":"([^"]+)"/;
const BENCH = /"bench":(\d+)/;
const MARK = /"mark":(\d+)/;
const PROBE = /"probe":(\d+)/;
const RESUMED = '{"@type":"resumed"';

let sockets = [];
const probeTimes = new Map();

function connect(url, localAddress) {
  const socket = new WebSocket(url, { perMessageDeflate: false, localAddress });
  socket.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (socket.terminate(), reject(new Error('connect timed out'))), 30_000);
    socket.once('open', () => (clearTimeout(timer), resolve(socket)));
    socket.once('error', (err) => (clearTimeout(timer), reject(err)));
  });
}

/** Resolves with the first frame (text) for which `match` is true, after `timeoutMs` with undefined. */
function until(socket, match, timeoutMs) {
  return new Promise((resolve) => {
    const done = (value) => {
      clearTimeout(timer);
      socket.off('message', listener);
      socket.off('close', closed);
      resolve(value);
    };
    const listener = (data) => {
      const text = data.toString();
      if (match(text)) done(text);
    };
    const closed = () => done(undefined);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('message', listener);
    socket.on('close', closed);
  });
}

async function pool(items, concurrency, fn) {
  let next = 0;
  const out = new Array(items.length);
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}

serve({
  async subscribe({ url, jwts, localAddress, concurrency = 200 }) {
    let failed = 0;
    // In the order of `jwts`, whatever order they open in (waitMark answers in that order).
    sockets = new Array(jwts.length);
    await pool(jwts, concurrency, async (jwt, i) => {
      try {
        const socket = await connect(url, localAddress);
        const s = { socket, lastOffset: undefined, marks: new Set() };
        socket.on('message', (data) => {
          const text = data.toString();
          const m = MARK.exec(text);
          if (m) {
            s.marks.add(Number(m[1]));
            s.lastOffset = OFFSET.exec(text)?.[1];
          }
        });
        const ack = until(socket, (t) => t.includes('"@type":"subscribed"') || t.startsWith('{"@type":"error"'), 30_000);
        socket.send(JSON.stringify({ '@type': 'subscribe', jwt }));
        if (!(await ack)?.includes('"@type":"subscribed"')) throw new Error('not subscribed');
        sockets[i] = s;
      } catch {
        failed++;
      }
    });
    sockets = sockets.filter(Boolean);
    return { opened: sockets.length, failed };
  },

  async waitMark({ mark, timeoutMs = 60_000 }) {
    for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
      if (sockets.every((s) => s.marks.has(mark))) return sockets.map((s) => s.lastOffset);
    }
    throw new Error(`mark ${mark}: ${sockets.filter((s) => !s.marks.has(mark)).length} of ${sockets.length} sockets did not get it`);
  },

  async close() {
    const all = sockets.map((s) => s.socket);
    sockets = [];
    const closed = all.map((s) => new Promise((resolve) => (s.readyState === WebSocket.CLOSED ? resolve() : s.once('close', resolve))));
    for (const s of all) s.close(1000);
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 10_000))]);
    for (const s of all) if (s.readyState !== WebSocket.CLOSED) s.terminate();
    return all.length;
  },

  async storm({ url, clients, localAddress, t0, timeoutMs = 120_000 }) {
    const results = await Promise.all(
      clients.map(async ({ jwt, resumeFrom, expect }) => {
        // A connect refused or reset (the listen queue overflows in a storm) is tried again, as a client would.
        let socket;
        let retries = 0;
        for (;;) {
          try {
            socket = await connect(url, localAddress);
            break;
          } catch (err) {
            if (++retries > 5) return { reason: `connect: ${err.message}`, retries };
            await new Promise((r) => setTimeout(r, 100 + Math.random() * 400));
          }
        }
        const connectMs = Number(process.hrtime.bigint() - BigInt(t0)) / 1e6;
        sockets.push({ socket, marks: new Set() });
        const replay = [];
        const onFrame = (data) => {
          const m = BENCH.exec(data.toString('latin1', 0, 64));
          if (m) replay.push(Number(m[1]));
        };
        socket.on('message', onFrame);
        const answer = until(socket, (t) => t.startsWith(RESUMED) || t.startsWith('{"@type":"error"'), timeoutMs);
        socket.send(JSON.stringify({ '@type': 'subscribe', jwt, resumeFrom }));
        const text = await answer;
        const at = process.hrtime.bigint();
        socket.off('message', onFrame);
        if (!text) return { reason: socket.readyState === WebSocket.OPEN ? 'no answer' : 'closed', retries };
        const frame = JSON.parse(text);
        if (frame['@type'] !== 'resumed') return { reason: `error: ${frame.error ?? text.slice(0, 80)}`, retries };
        const ms = Number(at - BigInt(t0)) / 1e6;
        if (!frame.recovered) return { ms, connectMs, reason: frame.reason, stray: replay.length, retries };
        const exact = replay.length === expect.length && replay.every((v, i) => v === expect[i]) && frame.replayed === expect.length;
        return { ms, connectMs, recovered: true, exact, replayed: replay.length, retries };
      }),
    );
    return results;
  },

  async probeOpen({ url, jwt }) {
    const socket = await connect(url);
    socket.on('message', (data) => {
      const m = PROBE.exec(data.toString());
      if (m) probeTimes.set(Number(m[1]), process.hrtime.bigint());
    });
    const ack = until(socket, (t) => t.includes('"@type":"subscribed"'), 30_000);
    socket.send(JSON.stringify({ '@type': 'subscribe', jwt }));
    if (!(await ack)) throw new Error('probe not subscribed');
    sockets.push({ socket, marks: new Set() });
    return true;
  },

  probes() {
    const out = Object.fromEntries(probeTimes);
    probeTimes.clear();
    return out;
  },

  clock({ sent }) {
    return { sent, now: process.hrtime.bigint() };
  },
});
process.send({ type: 'ready' });
