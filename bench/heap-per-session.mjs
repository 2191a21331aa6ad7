#!/usr/bin/env node
/**
 * Where the heap of an idle subscribed `/ws` session goes: one heap snapshot before and one
 * after opening --n sessions (clients in a child process), then the difference per session,
 * by V8 node type and constructor. Embedded mode (no Redis). The total is what
 * `compare.mjs --only idle` measures; the rows say what to look at.
 *
 *   npm run build && node --expose-gc bench/heap-per-session.mjs [--n 3000] [--top 30]
 */
import { fork } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';

const SECRET = 'heap-per-session';

if (process.argv[2] === '--clients') {
  // Child: open the sessions, say so, then hold them.
  const [{ default: WebSocket }, { SignJWT }] = await Promise.all([import('ws'), import('jose')]);
  const [port, n] = process.argv.slice(3).map(Number);
  const key = Buffer.from(SECRET);
  const workspace = (i) => ({ uuid: `w${i % 50}`, slug: `s${i % 50}`, label: `S${i % 50}`, roots: [{ uuid: `r${i % 50}`, path: `pydiods1/s${i % 50}` }] });
  const sockets = [];
  for (let i = 0; i < n; i++) {
    const jwt = await new SignJWT({ name: `user-${i}`, sub: `sub-${i}`, workspaces: [workspace(i)] }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(key);
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await new Promise((resolve, reject) => (socket.once('open', resolve), socket.once('error', reject)));
    socket.send(JSON.stringify({ '@type': 'subscribe', jwt }));
    await new Promise((resolve) => socket.once('message', resolve));
    sockets.push(socket);
  }
  process.send('ready');
  setInterval(() => undefined, 1 << 30);
} else {
  const { values: opt } = parseArgs({ options: { n: { type: 'string', default: '3000' }, top: { type: 'string', default: '30' } } });
  if (!globalThis.gc) throw new Error('run with node --expose-gc');
  const n = Number(opt.n);
  const { startApp } = await import('../dist/app.js');
  const { loadConfig } = await import('../dist/config/config.js');
  const unpaced = { SESSION_RATE: '100000', SESSION_BURST: '100000', CLIENT_FRAME_RATE: '100000', CLIENT_FRAME_BURST: '100000' };
  const limits = { MAX_CONNECTIONS_PER_ADDRESS: '0', MAX_SESSIONS_PER_USER: '0', PING_INTERVAL_MS: '600000' };
  const app = await startApp(loadConfig({ HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', JWT_SECRET: SECRET, ...unpaced, ...limits }));
  const snapshot = (name) => {
    globalThis.gc();
    globalThis.gc();
    return writeHeapSnapshot(join(tmpdir(), `switchboard-${process.pid}-${name}.heapsnapshot`));
  };
  const before = snapshot('before');
  const clients = fork(new URL(import.meta.url), ['--clients', String(app.getHttpServer().address().port), String(n)]);
  await new Promise((resolve) => clients.once('message', resolve));
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const after = snapshot('after');
  clients.kill();
  await app.close();

  const [a, b] = [bySelfSize(before), bySelfSize(after)];
  rmSync(before);
  rmSync(after);
  const rows = [...b].map(([k, v]) => ({ k, count: (v.count - (a.get(k)?.count ?? 0)) / n, bytes: (v.bytes - (a.get(k)?.bytes ?? 0)) / n }));
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  console.log(`${new Date().toISOString()}, node ${process.version}, ${n} idle subscribed /ws sessions: ${total.toFixed(0)} B of heap per session\n`);
  console.log('| B per session | objects per session | V8 type: constructor |\n|---:|---:|---|');
  for (const r of rows.filter((r) => r.bytes >= 8).sort((x, y) => y.bytes - x.bytes).slice(0, Number(opt.top))) {
    console.log(`| ${r.bytes.toFixed(0)} | ${r.count.toFixed(2)} | ${r.k} |`);
  }
  process.exit(0);
}

/** Self size and count per (type, constructor name) of a heap snapshot. */
function bySelfSize(file) {
  const s = JSON.parse(readFileSync(file, 'utf8'));
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [width, type, name, size] = [fields.length, fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const named = new Set(['object', 'closure', 'native', 'hidden', 'array']);
  const out = new Map();
  for (let i = 0; i < s.nodes.length; i += width) {
    const t = types[s.nodes[i + type]];
    const key = named.has(t) ? `${t}: ${s.strings[s.nodes[i + name]].slice(0, 60) || '(anonymous)'}` : t;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += s.nodes[i + size];
    out.set(key, e);
  }
  return out;
}
