/**
 * The Markdown report of compare.mjs: every figure per system as the median of the repetitions
 * with their min-max, the ratios of Switchboard to the floor and to Socket.IO, the issue's
 * targets met or not (with the gap), and the background load of every server run.
 */
import { median } from './common.mjs';

const sizes = (s) => s.split(',').filter(Boolean).map(Number);
const int = (x) => Math.round(x).toLocaleString('en-US');

export function num(x) {
  if (x === undefined || Number.isNaN(x)) return 'n/a';
  const a = Math.abs(x);
  if (a >= 1000) return int(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/** The rows of the main table: what is read from one repetition's result, and which way is better. */
export function metrics(opt) {
  const rows = [];
  const add = (scenario, metric, better, get, only) => rows.push({ scenario, metric, better, get, only });
  for (const n of sizes(opt.idle)) {
    add(`idle, ${int(n)} subscribed sessions`, 'heap per session (B)', 'lower', (r) => r.idle?.[n]?.heap);
    add(`idle, ${int(n)} subscribed sessions`, 'RSS per session (B)', 'lower', (r) => r.idle?.[n]?.rss);
  }
  add('idle, no session open (after the warm-up)', 'server CPU while idle (ms per s)', 'lower', (r) => r.idleEmptyCpu);
  const last = sizes(opt.idle).at(-1);
  if (last) add(`idle, ${int(last)} subscribed sessions`, 'server CPU while idle (ms per s)', 'lower', (r) => r.idle?.cpuMsPerS);
  add(`connect + subscribe storm, ${int(opt.storm)} sockets`, 'subscribes/s', 'higher', (r) => r.storm?.perS);
  add(`connect + subscribe storm, ${int(opt.storm)} sockets`, 'connect to ack p99 (ms)', 'lower', (r) => r.storm?.p99);
  add(`connect + subscribe storm, ${int(opt.storm)} sockets`, 'server CPU per subscribe (ms)', 'lower', (r) => r.storm?.cpuMs);
  const [firstFanout] = sizes(opt.fanout);
  for (const n of sizes(opt.fanout)) {
    const s = `fan-out, one event to ${int(n)} sessions`;
    add(s, 'PUBLISH to last receipt p50 (ms)', 'lower', (r) => r.fanout?.[n]?.p50);
    add(s, 'p99 (ms)', 'lower', (r) => r.fanout?.[n]?.p99);
    add(s, 'max (ms)', 'lower', (r) => r.fanout?.[n]?.max);
    add(s, 'server CPU per event (ms)', 'lower', (r) => r.fanout?.[n]?.cpuMs);
    if (n === firstFanout) {
      add(`saturated throughput, ${int(n)} sessions, ${opt.burst} events back to back`, 'deliveries/s received', 'higher', (r) => r.fanout?.throughput?.perS);
      add(`saturated throughput, ${int(n)} sessions, ${opt.burst} events back to back`, 'server CPU per delivery (µs)', 'lower', (r) => r.fanout?.throughput?.cpuUsPerDelivery);
    }
  }
  for (const n of sizes(opt.selective)) {
    const s = `small audience, ${opt.receivers} receivers among ${int(n)} sessions`;
    add(s, 'server CPU per event (ms)', 'lower', (r) => r.selective?.[n]?.cpuMs);
    add(s, 'PUBLISH to last receipt p50 (ms)', 'lower', (r) => r.selective?.[n]?.p50);
  }
  const rt = `event rate, ${int(opt.rate)} sessions, two per workspace, ${opt['rate-inflight']} events in flight`;
  add(rt, 'server CPU per event (ms)', 'lower', (r) => r.rate?.cpuMs);
  add(rt, 'events/s', 'higher', (r) => r.rate?.perS);
  add(rt, 'PUBLISH to last receipt p50 (ms)', 'lower', (r) => r.rate?.p50);
  add(rt, 'p99 (ms)', 'lower', (r) => r.rate?.p99);
  const c = `chat, one room of ${int(opt.chat)} members, one member posts`;
  add(c, 'post to last member p50 (ms)', 'lower', (r) => r.chat?.chat?.p50);
  add(c, 'p99 (ms)', 'lower', (r) => r.chat?.chat?.p99);
  add(c, 'server CPU per message (ms)', 'lower', (r) => r.chat?.chat?.cpuMs);
  add(c, 'filling the room (ms, setup)', 'lower', (r) => r.chat?.joinMs);
  const p = `push to a room of ${int(opt.chat)} /ws sessions (Switchboard's baseline for chat)`;
  add(p, 'PUBLISH to last receipt p50 (ms)', 'lower', (r) => r.chat?.push?.p50, 'switchboard');
  add(p, 'p99 (ms)', 'lower', (r) => r.chat?.push?.p99, 'switchboard');
  add(p, 'server CPU per message (ms)', 'lower', (r) => r.chat?.push?.cpuMs, 'switchboard');
  add('measurement cost', 'two IPC CPU reads (ms)', 'lower', (r) => r.ipcMs);
  return rows;
}

/** Median and min-max over the repetitions of one system. */
function stat(results, system, get) {
  const xs = results.filter((r) => r.system === system).map(get).filter((x) => typeof x === 'number' && !Number.isNaN(x));
  if (!xs.length) return undefined;
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** The figures that a run should have produced but did not: `system: scenario, metric`. */
/** Whether metric `m` is measured on `system` (the baseline is Switchboard too). */
const measures = (m, system) => !m.only || m.only === system || (m.only === 'switchboard' && system === 'baseline');

export function missingFigures(results, opt, systems) {
  const missing = [];
  for (const m of metrics(opt)) {
    for (const system of systems) {
      if (!measures(m, system)) continue;
      for (const r of results.filter((x) => x.system === system)) {
        const x = m.get(r);
        if (typeof x !== 'number' || !Number.isFinite(x)) missing.push(`${system} rep ${r.rep}: ${m.scenario}, ${m.metric}`);
      }
    }
  }
  return missing;
}

const cell = (s) => (s ? (s.n > 1 ? `${num(s.median)} (${num(s.min)}–${num(s.max)})` : num(s.median)) : '');
const ratio = (a, b) => (a && b && b.median ? a.median / b.median : undefined);
const rx = (x) => (x === undefined ? '' : `${x.toFixed(2)}x`);

export function report({ machine, opt, clock, durationS, results, systems, labels, printMachine }) {
  const lines = [];
  const out = (s = '') => lines.push(s);
  const log = console.log;
  console.log = out; // printMachine writes with console.log
  try {
    printMachine(machine);
  } finally {
    console.log = log;
  }
  out(`client processes: ${opt.procs} (source addresses 127.0.0.2..127.0.0.${opt.procs + 1}); clock check (IPC mark, parent -> clients): ${clock.min.toFixed(3)}..${clock.max.toFixed(3)} ms`);
  out(`repetitions: ${opt.reps}, systems interleaved (order rotating); events per scenario: ${opt.warmup} warm-up + ${opt.events}, ${opt.gap} ms apart; duration ${durationS.toFixed(0)} s`);
  out();
  out('Each cell: median of the repetitions (min–max). Ratios are of the medians; "vs floor" and "vs Socket.IO" are Switchboard / other.');
  out();
  const has = (s) => systems.includes(s);
  const head = [
    'scenario',
    'metric',
    'better',
    ...systems.map((s) => labels[s]),
    ...(has('switchboard') && has('floor') ? ['vs floor'] : []),
    ...(has('baseline') && has('floor') ? ['baseline vs floor'] : []),
    ...(has('switchboard') && has('socketio') ? ['vs Socket.IO'] : []),
  ];
  out(`| ${head.join(' | ')} |`);
  out(`|${head.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`);
  const table = [];
  for (const m of metrics(opt)) {
    const stats = Object.fromEntries(systems.map((s) => [s, measures(m, s) ? stat(results, s, m.get) : undefined]));
    if (Object.values(stats).every((s) => !s)) continue;
    const vsFloor = ratio(stats.switchboard, stats.floor);
    const vsSio = ratio(stats.switchboard, stats.socketio);
    table.push({ ...m, stats, vsFloor, vsSio });
    const cols = [m.scenario, m.metric, m.better, ...systems.map((s) => cell(stats[s]))];
    if (has('switchboard') && has('floor')) cols.push(rx(vsFloor));
    if (has('baseline') && has('floor')) cols.push(rx(ratio(stats.baseline, stats.floor)));
    if (has('switchboard') && has('socketio')) cols.push(rx(vsSio));
    out(`| ${cols.join(' | ')} |`);
  }

  if (has('switchboard') && has('floor') && has('socketio')) {
    out();
    out('### Targets (issue 13), from the medians above');
    out();
    out('| target | measured | met | gap |');
    out('|---|---:|---|---|');
    const find = (scenario, metric) => table.find((t) => t.scenario.startsWith(scenario) && t.metric.startsWith(metric));
    const target = (label, t, which, op, limit) => {
      const x = t?.[which];
      if (x === undefined) return out(`| ${label} | n/a | n/a | |`);
      const met = op === '<=' ? x <= limit : x >= limit;
      // The gap: how much Switchboard's own figure must change for the ratio to reach the limit.
      const gap = met ? '' : op === '<=' ? `${((1 - limit / x) * 100).toFixed(0)} % less needed` : `${((limit / x - 1) * 100).toFixed(0)} % more needed`;
      out(`| ${label} | ${x.toFixed(2)}x | ${met ? 'met' : '**not met**'} | ${gap} |`);
    };
    for (const n of sizes(opt.idle)) target(`idle heap per session at ${int(n)} <= 1.4x floor`, find(`idle, ${int(n)} `, 'heap'), 'vsFloor', '<=', 1.4);
    for (const n of sizes(opt.fanout)) target(`fan-out CPU per event, ${int(n)} sessions <= 1.1x floor`, find(`fan-out, one event to ${int(n)} `, 'server CPU'), 'vsFloor', '<=', 1.1);
    target('saturated throughput >= 1.0x Socket.IO', find('saturated throughput', 'deliveries'), 'vsSio', '>=', 1.0);
    for (const n of sizes(opt.selective)) target(`small-audience CPU per event, ${opt.receivers} among ${int(n)} <= 1.2x floor`, find(`small audience, ${opt.receivers} receivers among ${int(n)} `, 'server CPU'), 'vsFloor', '<=', 1.2);
    target(`event rate CPU per event, ${int(opt.rate)} sessions <= 1.3x floor`, find('event rate', 'server CPU'), 'vsFloor', '<=', 1.3);
    target('subscribe storm >= 0.95x floor (subscribes/s)', find('connect + subscribe storm', 'subscribes/s'), 'vsFloor', '>=', 0.95);
    const chatRow = find('chat', 'post to last member p50');
    const pushRow = find('push to a room', 'PUBLISH to last receipt p50');
    if (chatRow?.stats.switchboard && pushRow?.stats.switchboard) {
      const r = chatRow.stats.switchboard.median / pushRow.stats.switchboard.median;
      const met = r <= 1.0;
      out(`| chat p50 no slower than a push to as many sockets (chat / push <= 1.0x) | ${r.toFixed(2)}x | ${met ? 'met' : '**not met**'} | ${met ? '' : `${((1 - 1 / r) * 100).toFixed(0)} % less needed`} |`);
    }
    const versus = table.filter((t) => t.vsSio !== undefined && t.scenario !== 'measurement cost' && !t.metric.startsWith('filling'));
    const beaten = versus.filter((t) => (t.better === 'lower' ? t.vsSio < 1 : t.vsSio > 1));
    out(
      `| every Socket.IO figure beaten | ${beaten.length} of ${versus.length} | ${beaten.length === versus.length ? 'met' : '**not met**'} | ${versus
        .filter((t) => !beaten.includes(t))
        .map((t) => `${t.scenario}: ${t.metric} ${t.vsSio.toFixed(2)}x`)
        .join('; ')} |`,
    );
  }

  out();
  out('### Background load, per server run (from /proc: cores busy on average; "others" excludes the bench and Redis)');
  out();
  out('| rep | system | seconds | loadavg (1/5/15 min, start -> end) | bench processes (cores) | Redis (cores) | other processes (cores) |');
  out('|---:|---|---:|---|---:|---:|---:|');
  for (const r of results) {
    const b = r.background;
    if (b) out(`| ${r.rep} | ${labels[r.system]} | ${b.seconds.toFixed(0)} | ${b.loadavg} | ${b.benchCores.toFixed(2)} | ${b.redisCores.toFixed(2)} | ${b.othersCores.toFixed(2)} |`);
  }
  const others = results.map((r) => r.background?.othersCores).filter((x) => x !== undefined);
  if (others.length) out(`\nother processes: median ${median(others).toFixed(2)} cores, max ${Math.max(...others).toFixed(2)} cores, on a ${machine.nproc}-core machine`);
  const chat = results.find((r) => r.system === 'switchboard' && r.chat?.roomUpdates);
  if (chat) out(`Switchboard's JOIN phase: ${int(chat.chat.roomUpdates)} ROOM_UPDATE frames to fill a room of ${int(opt.chat)} (rep ${chat.rep}).`);
  return lines.join('\n');
}
