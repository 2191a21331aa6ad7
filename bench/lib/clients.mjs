/**
 * Many WebSocket clients in one process, driven over IPC (see common.mjs `Child`).
 *
 *   open   {url, frames?, ackMatch?, concurrency, track?}  opens one socket per frame (or `count`),
 *          sends the frame and waits for the first reply (the subscribe ack). A frame may
 *          also be an array of frames (steps, e.g. subscribe then JOIN), with `ackMatch` an
 *          array of the same length: each step waits for the first reply containing its
 *          match (an `"@type":"error"` reply fails the socket). `track: true` also keeps, per
 *          socket, the last ROOM_UPDATE and counts error frames (see `roomState`, `stats`).
 *          The reply holds `sampleAck`: the last ack of the first socket opened.
 *          `localAddress` (e.g. 127.0.0.3): the source address, so that many processes can
 *          each open thousands of sockets without sharing one address's ephemeral ports.
 *          `timings: true`: the reply also holds `times` (ms from connect to the last ack, per
 *          socket) and `start` / `end` (hrtime of the first connect and of the last ack).
 *          `eioPong: true`: answer Engine.IO pings ("2") with pongs ("3") (Socket.IO sockets).
 *   send   {sends: [{socket, frames}]}  sends the frames on the sockets (index in open order),
 *          back to back, and replies `{t0}`: the hrtime taken just before the first send
 *   roomState {}        for tracked sockets: how many have seen a ROOM_UPDATE, the min/max
 *          length of `Room.Users` in each socket's last one, and ROOM_UPDATEs received in all
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
/** Sockets in the order they were opened (indexes for `send`). */
let ordered = [];
const events = new Map();
let stray = 0;
/** Every bench-event frame received since the last `close`: to catch deliveries nobody expected. */
let marked = 0;
let closedEarly = 0;
const closeCodes = {};
/** Tracked sockets (`track: true`): socket -> last ROOM_UPDATE frame (Buffer). */
const lastRoomUpdate = new Map();
let roomUpdates = 0;
let errorFrames = 0;
let firstError;

function onFrame(data) {
  const t = process.hrtime.bigint();
  const m = MARK.exec(data.toString('latin1'));
  if (!m) return void stray++;
  const id = Number(m[1]);
  marked++;
  let e = events.get(id);
  if (!e) events.set(id, (e = { expected: Infinity, count: 0, first: t, last: t }));
  if (++e.count === 1) e.first = t;
  e.last = t;
  if (e.count === e.expected) process.send({ type: 'done', id, first: e.first, last: e.last, count: e.count });
}

const ROOM_UPDATE = Buffer.from('{"@type":"ROOM_UPDATE"');
const ERROR = Buffer.from('{"@type":"error"');

/** `track: true`: ROOM_UPDATEs and error frames are recognised by their first bytes, then the usual receipt. */
function onTrackedFrame(socket, data) {
  if (data.length > ROOM_UPDATE.length && data[2] === 0x40) {
    if (data.subarray(0, ROOM_UPDATE.length).equals(ROOM_UPDATE)) {
      roomUpdates++;
      lastRoomUpdate.set(socket, data);
      return;
    }
    if (data.subarray(0, ERROR.length).equals(ERROR)) {
      if (errorFrames++ === 0) firstError = data.toString().slice(0, 300);
      return;
    }
  }
  onFrame(data);
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))),
  ]);
}

/** One step: send `frame`, wait for the first reply that contains `match` (an error reply fails). */
async function step(socket, frame, match) {
  let listener;
  const ack = new Promise((resolve, reject) => {
    listener = (d) => {
      const text = d.toString();
      if (match === undefined || text.includes(match)) resolve(text);
      else if (text.startsWith('{"@type":"error"')) reject(new Error(`error reply: ${text.slice(0, 200)}`));
    };
    socket.on('message', listener);
  });
  socket.send(frame);
  try {
    return await withTimeout(ack, 15_000, `ack ${match ?? ''}`);
  } finally {
    socket.off('message', listener);
  }
}

const PING = 0x32; // Engine.IO ping packet "2"
const PONG = '3';

async function openOne(url, frame, ackMatch, track, { localAddress, eioPong } = {}) {
  const socket = new WebSocket(url, { perMessageDeflate: false, localAddress });
  if (eioPong) socket.on('message', (d) => d.length === 1 && d[0] === PING && socket.send(PONG));
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    }),
    15_000,
    'connect',
  );
  socket.on('error', () => undefined);
  let text;
  if (Array.isArray(frame)) {
    // Steps: the tracking listener is on from the first step, so that no frame after the
    // last ack is missed (a ROOM_UPDATE caused by another member's JOIN, say).
    if (track) socket.on('message', (d) => onTrackedFrame(socket, d));
    try {
      for (let k = 0; k < frame.length; k++) text = await step(socket, frame[k], ackMatch?.[k]);
    } catch (err) {
      lastRoomUpdate.delete(socket);
      socket.terminate();
      throw err;
    }
  } else if (frame !== undefined) {
    const ack = new Promise((resolve) => socket.once('message', (d) => resolve(d.toString())));
    socket.send(frame);
    text = await withTimeout(ack, 15_000, 'subscribe ack');
    if (ackMatch && !text.includes(ackMatch)) {
      socket.terminate();
      throw new Error(`unexpected ack: ${text.slice(0, 200)}`);
    }
  }
  sockets.add(socket);
  ordered.push(socket);
  if (!(Array.isArray(frame) && track)) socket.on('message', track ? (d) => onTrackedFrame(socket, d) : onFrame);
  socket.once('close', (code) => {
    if (!sockets.delete(socket)) return;
    closedEarly++;
    closeCodes[code] = (closeCodes[code] ?? 0) + 1;
  });
  return text;
}

serve({
  async open({ url, frames, count, ackMatch, concurrency = 100, track = false, localAddress, timings = false, eioPong = false }) {
    const total = frames ? frames.length : count;
    const started = process.hrtime.bigint();
    let next = 0;
    const errors = [];
    const times = [];
    let sampleAck;
    let end = started;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const t = process.hrtime.bigint();
        try {
          const text = await openOne(url, frames?.[i], ackMatch, track, { localAddress, eioPong });
          sampleAck ??= text;
          end = process.hrtime.bigint();
          if (timings) times.push(Number(end - t) / 1e6);
        } catch (err) {
          errors.push(err.message);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const out = { opened: total - errors.length, failed: errors.length, firstError: errors[0], ms, open: sockets.size, sampleAck };
    return timings ? { ...out, times, start: started, end } : out;
  },

  send({ sends }) {
    const targets = sends.map(({ socket, frames }) => {
      const s = ordered[socket];
      if (!s || s.readyState !== WebSocket.OPEN) throw new Error(`socket ${socket} is not open`);
      return { s, frames };
    });
    const t0 = process.hrtime.bigint();
    for (const { s, frames } of targets) for (const f of frames) s.send(f);
    return { t0 };
  },

  roomState() {
    let minUsers = Infinity;
    let maxUsers = -1;
    for (const data of lastRoomUpdate.values()) {
      const n = JSON.parse(data.toString()).Room?.Users?.length ?? 0;
      minUsers = Math.min(minUsers, n);
      maxUsers = Math.max(maxUsers, n);
    }
    return { seen: lastRoomUpdate.size, minUsers, maxUsers, roomUpdates };
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
    return { open: sockets.size, stray, marked, closedEarly, closeCodes, roomUpdates, errorFrames, firstError };
  },

  async close() {
    const all = [...sockets];
    sockets.clear();
    ordered = [];
    lastRoomUpdate.clear();
    const closed = all.map((s) => new Promise((resolve) => (s.readyState === WebSocket.CLOSED ? resolve() : s.once('close', resolve))));
    for (const s of all) s.close(1000);
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 10_000))]);
    for (const s of all) if (s.readyState !== WebSocket.CLOSED) s.terminate();
    events.clear();
    stray = 0;
    marked = 0;
    closedEarly = 0;
    roomUpdates = 0;
    errorFrames = 0;
    firstError = undefined;
    for (const k of Object.keys(closeCodes)) delete closeCodes[k];
    return all.length;
  },
});
process.send({ type: 'ready' });
