/**
 * What task-progress coalescing saves (TASK_COALESCE_MS, docs/protocol.md 3): one task
 * emitting `--rate` (50) Running progress events a second for `--seconds` (10), then its
 * Finished, to its owner's session; the same events, in the same run, to two services in
 * embedded mode: TASK_COALESCE_MS at its default (200 ms) and 0 (coalescing off: the
 * baseline). Per service: frames the session received, the bytes of them, the Progress
 * values seen (the last one must be the last published), and how late each frame is after
 * the newest event it carries (PUBLISH of that event to receipt: p50/p99/max). Events are
 * PUBLISHed on Redis as Cells' job service does, one event to both services' channels in one
 * MULTI (each service has channels, history and keys of its own under the run's tag, deleted
 * at the end), so the two see the same timing. Without coalescing the session's own pace
 * (SESSION_RATE, 30 frames/s) makes frames wait: the lateness column shows it.
 *
 *   npm run build && node bench/task-progress.mjs [--rate 50] [--seconds 10] [--window 200] [--redis redis://127.0.0.1:6379]
 */
import { JwtService } from '@nestjs/jwt';
import { Redis } from 'ioredis';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import process from 'node:process';
import { WebSocket } from 'ws';
import { args, benchChannels, benchKeys, deleteBenchKeys, machine, percentile, printMachine, serviceEnv, sleep, waitSubscribed } from './lib/common.mjs';

const opt = args({ rate: 50, seconds: 10, window: 200, redis: 'redis://127.0.0.1:6379' });
const SECRET = 'bench-' + randomBytes(8).toString('hex');
const m = machine();
const children = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

/** A service on its own port; resolves once it answers /readyz. */
async function service(name, coalesceMs) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const { tag, env: channels } = benchChannels();
  const env = serviceEnv(SECRET, {
    ...channels,
    PORT: String(port),
    REDIS_URL: opt.redis,
    ...benchKeys(tag),
    TASK_COALESCE_MS: String(coalesceMs),
  });
  const proc = spawn(process.execPath, ['dist/main.js'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(proc);
  for (let i = 0; !(await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)); i++) {
    if (i > 200) throw new Error(`${name} did not start (npm run build first?)`);
    await sleep(50);
  }
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise((ok, ko) => (socket.once('open', ok), socket.once('error', ko)));
  const frames = [];
  let subscribed;
  const ack = new Promise((r) => (subscribed = r));
  socket.on('message', (data) => {
    const at = process.hrtime.bigint();
    const frame = JSON.parse(data.toString());
    if (frame['@type'] === 'subscribed') return subscribed();
    if (frame.TaskUpdated) frames.push({ at, bytes: data.length, task: frame.TaskUpdated });
  });
  socket.send(JSON.stringify({ '@type': 'subscribe', jwt: new JwtService({ secret: SECRET }).sign({ sub: 'u-alice', name: 'alice' }, { expiresIn: 3600 }) }));
  await ack;
  await waitSubscribed(redis, channels.CHANNEL_TASKS);
  return { name, coalesceMs, socket, frames, tag, channel: channels.CHANNEL_TASKS };
}

const redis = new Redis(opt.redis);
const services = [await service('coalesced', opt.window), await service('not coalesced (baseline)', 0)];
const id = `task-${randomBytes(4).toString('hex')}`;
const event = (n, Status = 'Running') => ({ JobID: 'bench-job', TaskUpdated: { ID: id, JobID: 'bench-job', TriggerOwner: 'alice', Status, Progress: n, StatusMessage: `step ${n}` } });
/** When each Progress value was published (hrtime), to measure each frame against the newest event it carries. */
const publishedAt = new Map();
const total = opt.rate * opt.seconds;
/** One event to both services at once (one MULTI: the same instant for both). */
async function publish(n, status) {
  const raw = JSON.stringify(event(n, status));
  publishedAt.set(n, process.hrtime.bigint());
  await services.reduce((multi, s) => multi.publish(s.channel, raw), redis.multi()).exec();
}
const started = Date.now();
for (let n = 1; n <= total; n++) {
  // Paced on the wall clock: event n goes out at n / rate seconds, whatever a request took.
  const due = started + ((n - 1) * 1000) / opt.rate;
  if (due > Date.now()) await sleep(due - Date.now());
  await publish(n);
}
await publish(total + 1, 'Finished');
const publishedIn = (Date.now() - started) / 1000;
// The Finished frame is the barrier: it goes out at once, after any pending progress.
for (const s of services) {
  for (let i = 0; !s.frames.some((f) => f.task.Status === 'Finished'); i++) {
    if (i > 200) throw new Error(`${s.name}: no Finished frame`);
    await sleep(50);
  }
}
const lastFrameAfter = (Date.now() - started) / 1000;

printMachine(m);
console.log(`one task: ${total} Running progress events at ${opt.rate}/s published over ${publishedIn.toFixed(1)} s, then Finished; both services get every event (PUBLISH on Redis); the last frame arrived ${lastFrameAfter.toFixed(1)} s after the first publish`);
console.log('\n| service | TASK_COALESCE_MS | frames | bytes | frames saved | last Running Progress | lateness p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|---|');
const baseline = services[1].frames.length;
for (const s of services) {
  const running = s.frames.filter((f) => f.task.Status === 'Running');
  const late = s.frames.map((f) => Number(f.at - publishedAt.get(f.task.Progress)) / 1e6);
  const bytes = s.frames.reduce((n, f) => n + f.bytes, 0);
  const saved = `${(100 * (1 - s.frames.length / baseline)).toFixed(1)} %`;
  console.log(`| ${s.name} | ${s.coalesceMs} | ${s.frames.length} | ${bytes} | ${saved} | ${running.at(-1)?.task.Progress} of ${total} | ${percentile(late, 50).toFixed(1)} | ${percentile(late, 99).toFixed(1)} | ${Math.max(...late).toFixed(1)} |`);
}
console.log('\nlateness: from the publish of the newest event a frame carries to its receipt (a coalesced frame waits for its window by design).');
for (const s of services) s.socket.close();
for (const c of children) c.kill('SIGTERM');
await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r)))));
// What the services wrote (history, revocation markers): gone with them.
for (const s of services) await deleteBenchKeys(redis, s.tag);
redis.disconnect();
process.exit(0);
