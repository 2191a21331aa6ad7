/**
 * Many WebSocket clients in one process, driven over IPC (see common.mjs `Child`).
 *
 *   open   {url, frames?, ackMatch?, concurrency}  opens one socket per frame (or `count`),
 *          sends the frame and waits for the first reply (the subscribe ack)
 *   expect {id, count}  from now on, report `{type:'done', id, first, last, count}` as soon
 *          as `count` frames of bench event `id` have arrived on this process's sockets
 *   report {id}         receipts of event `id` so far (after a timeout)
 *   clock  {}           this process's hrtime, to check that it is comparable with the parent's
 *   close  {}           closes every socket (close handshake, then terminate what is left)
 *
 * Receipt times are `process.hrtime.bigint()`: CLOCK_MONOTONIC on Linux, one clock for
 * every process on the machine, so they compare directly with the parent's publish mark.
 */
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { WebSocket } from 'ws';
import { serve } from './common.mjs';

/** Bench events carry a node uuid `bench-<tag>-<id>`; the frame is searched, not parsed. */
const MARK = /bench-[0-9a-f]+-(\d+)/;

const sockets = new Set();
const events = new Map();
let stray = 0;
let closedEarly = 0;
const closeCodes = {};

function onFrame(data) {
  const t = process.hrtime.bigint();
  const m = MARK.exec(data.toString('latin1'));
  if (!m) return void stray++;
  const id = Number(m[1]);
  let e = events.get(id);
  if (!e) events.set(id, (e = { expected: Infinity, count: 0, first: t, last: t }));
  if (++e.count === 1) e.first = t;
  e.last = t;
  if (e.count === e.expected) process.send({ type: 'done', id, first: e.first, last: e.last, count: e.count });
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))),
  ]);
}

async function openOne(url, frame, ackMatch) {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    }),
    15_000,
    'connect',
  );
  socket.on('error', () => undefined);
  if (frame !== undefined) {
    const ack = new Promise((resolve) => socket.once('message', (d) => resolve(d.toString())));
    socket.send(frame);
    const text = await withTimeout(ack, 15_000, 'subscribe ack');
    if (ackMatch && !text.includes(ackMatch)) {
      socket.terminate();
      throw new Error(`unexpected ack: ${text.slice(0, 200)}`);
    }
  }
  sockets.add(socket);
  socket.on('message', onFrame);
  socket.once('close', (code) => {
    if (!sockets.delete(socket)) return;
    closedEarly++;
    closeCodes[code] = (closeCodes[code] ?? 0) + 1;
  });
}

serve({
  async open({ url, frames, count, ackMatch, concurrency = 100 }) {
    const total = frames ? frames.length : count;
    const started = process.hrtime.bigint();
    let next = 0;
    const errors = [];
    const worker = async () => {
      while (next < total) {
        const i = next++;
        try {
          await openOne(url, frames?.[i], ackMatch);
        } catch (err) {
          errors.push(err.message);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    return { opened: total - errors.length, failed: errors.length, firstError: errors[0], ms, open: sockets.size };
  },

  expect({ id, count }) {
    const e = events.get(id);
    if (!e) events.set(id, { expected: count, count: 0, first: 0n, last: 0n });
    else {
      e.expected = count;
      if (e.count >= count) process.send({ type: 'done', id, first: e.first, last: e.last, count: e.count });
    }
    return true;
  },

  report({ id }) {
    const e = events.get(id);
    return { id, count: e?.count ?? 0, first: e?.first, last: e?.last };
  },

  clock({ sent }) {
    return { sent, now: process.hrtime.bigint() };
  },

  stats() {
    return { open: sockets.size, stray, closedEarly, closeCodes };
  },

  async close() {
    const all = [...sockets];
    sockets.clear();
    const closed = all.map((s) => new Promise((resolve) => (s.readyState === WebSocket.CLOSED ? resolve() : s.once('close', resolve))));
    for (const s of all) s.close(1000);
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 10_000))]);
    for (const s of all) if (s.readyState !== WebSocket.CLOSED) s.terminate();
    events.clear();
    stray = 0;
    closedEarly = 0;
    for (const k of Object.keys(closeCodes)) delete closeCodes[k];
    return all.length;
  },
});
process.send({ type: 'ready' });
