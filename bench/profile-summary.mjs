/**
 * Where the time goes in a V8 CPU profile (.cpuprofile, e.g. from `compare.mjs --prof DIR`):
 * self time by area (idle, GC, native calls such as writev, Node internals, each package,
 * Switchboard's own files) and the functions with the most self time.
 *
 *   node bench/profile-summary.mjs FILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import process from 'node:process';

const [file, ...rest] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/profile-summary.mjs FILE.cpuprofile [--top 25]');
const top = rest[0] === '--top' ? Number(rest[1]) : 25;
const profile = JSON.parse(readFileSync(file, 'utf8'));

// Self time per node: each sample's time delta goes to the node it hit.
const self = new Map();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0)));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));

function area({ functionName: f, url }) {
  if (f === '(idle)') return 'idle';
  if (f === '(garbage collector)') return 'GC';
  if (f === '(program)') return 'V8 / native (program)';
  if (!url) return `native: ${f}`;
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (mod) return `package: ${mod[1]}`;
  if (url.startsWith('node:')) return 'Node internals (JS)';
  const dist = /\/dist\/(.+)$/.exec(url);
  if (dist) return `switchboard: ${dist[1]}`;
  const bench = /\/bench\/(.+)$/.exec(url);
  if (bench) return `bench: ${bench[1]}`;
  return url;
}

const byArea = new Map();
const byFunction = new Map();
let total = 0;
for (const [id, us] of self) {
  const { callFrame } = nodes.get(id);
  total += us;
  const a = area(callFrame);
  byArea.set(a, (byArea.get(a) ?? 0) + us);
  const where = callFrame.url ? `${callFrame.url.replace(/^.*\/(node_modules|dist|bench)\//, '$1/')}:${callFrame.lineNumber + 1}` : '';
  const key = `${callFrame.functionName || '(anonymous)'}\t${where}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
}
const idle = byArea.get('idle') ?? 0;
const busy = total - idle;
const pct = (us) => `${((100 * us) / busy).toFixed(1)} %`;
const ms = (us) => (us / 1000).toFixed(1);

console.log(`${file}: ${ms(total)} ms sampled, ${ms(busy)} ms busy (not idle), ${profile.samples.length} samples\n`);
console.log('| area (self time) | ms | share of busy |');
console.log('|---|---:|---:|');
const areas = [...byArea].filter(([a]) => a !== 'idle').sort((a, b) => b[1] - a[1]);
for (const [a, us] of areas.slice(0, 20)) console.log(`| ${a} | ${ms(us)} | ${pct(us)} |`);
const restAreas = areas.slice(20).reduce((n, [, us]) => n + us, 0);
if (restAreas) console.log(`| (${areas.length - 20} more) | ${ms(restAreas)} | ${pct(restAreas)} |`);
console.log(`\n| function (top ${top} by self time) | where | ms | share of busy |`);
console.log('|---|---|---:|---:|');
const fns = [...byFunction].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]);
for (const [k, us] of fns.slice(0, top)) {
  const [name, where] = k.split('\t');
  console.log(`| ${name} | ${where} | ${ms(us)} | ${pct(us)} |`);
}
