#!/usr/bin/env node
/**
 * Parse cost per payload on the bus hot path: the hand-written parsers that src/protocol
 * replaced (bench/lib/handwritten-parse.mjs, the baseline), the parse functions as they ship
 * (zod 4 schemas of src/protocol, from dist/), and the same schemas written with valibot
 * (same semantics: null is absent, 64-bit ints as numbers become strings, unknown keys kept,
 * the node event normalised). One run, interleaved (the order rotates every repetition),
 * medians over the repetitions, ratios to the baseline measured in the same run. JSON.parse
 * of the same payloads is measured beside them, for scale.
 *
 *   npm run build && node bench/schema-parse.mjs [--reps 15] [--batch 20000]
 *
 * valibot is not a dependency: add it for the comparison with `npm install --no-save valibot`
 * (it has no install scripts).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as handwritten from './lib/handwritten-parse.mjs';

const { values: opts } = parseArgs({ options: { reps: { type: 'string', default: '15' }, batch: { type: 'string', default: '20000' } } });
const REPS = Number(opts.reps);
const BATCH = Number(opts.batch);

// ---------------------------------------------------------------- payloads

/** A Cells tree event as the tree service publishes it: ~1 KB, a MetaStore of JSON strings. */
function nodeEvent(i) {
  return {
    Type: 'UPDATE_CONTENT',
    Target: {
      Uuid: `6c3a9f1e-8d2b-4c7a-9e41-${String(i).padStart(12, '0')}`,
      Path: `/pydiods1/projects/reports/2026/q${i % 4}/budget-${i}.xlsx`,
      Type: 'LEAF',
      Size: 183_204 + i,
      MTime: '1764511200',
      Etag: 'd41d8cd98f00b204e9800998ecf8427e',
      Mode: 511,
      MetaStore: {
        name: `"budget-${i}.xlsx"`,
        mime: '"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"',
        'x-cells-hash': '"2b7e151628aed2a6abf7158809cf4f3c"',
        'pydio:meta-data-source-name': '"pydiods1"',
        'pydio:meta-data-source-path': `"projects/reports/2026/budget-${i}.xlsx"`,
        'pydio:meta-loaded': 'true',
        usermeta_tags: '"finance,q4,draft"',
        'pydio:meta-policies': '[{"Action":"READ","Subject":"user:alice","Effect":"allow"},{"Action":"WRITE","Subject":"user:alice","Effect":"allow"}]',
      },
    },
    Silent: false,
  };
}
const taskEvent = (i) => ({
  TaskUpdated: { ID: `task-${i}`, JobID: 'resync-ds', TriggerOwner: 'pydio.system.user', Status: 'Running', StatusMessage: 'Indexing 120/3000', Progress: 0.04, StartTime: 1764511200 },
  Job: { ID: 'resync-ds', Label: 'Resync datasource', Owner: 'pydio.system.user' },
});
const idmEvent = (i) => ({ Type: 'UPDATE', User: { Uuid: `sub-${i}`, Login: `user${i}`, GroupPath: '/', Attributes: { displayName: `User ${i}`, profile: 'standard' } } });

/** Distinct objects (not one object parsed again and again), parsed once from JSON as the bus does. */
const textOf = new WeakMap();
const pool = (make) =>
  Array.from({ length: 256 }, (_, i) => {
    const text = JSON.stringify(make(i));
    const item = JSON.parse(text);
    textOf.set(item, text);
    return item;
  });
const PAYLOADS = { node: pool(nodeEvent), task: pool(taskEvent), idm: pool(idmEvent) };

// ---------------------------------------------------------------- shared semantics

const isRecord = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const trimSlashes = (p) => p.replace(/^\/+|\/+$/g, '');
const INT64_KEYS = ['Uuid', 'Path', 'Type', 'Size', 'MTime', 'Etag'];
function metaStrings(m) {
  const out = {};
  for (const [k, v] of Object.entries(m)) if (v !== undefined) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
}
function cleanNode(n) {
  for (const k of [...INT64_KEYS, 'MetaStore']) if (n[k] == null) delete n[k];
  if (n.Path !== undefined) n.Path = trimSlashes(n.Path);
  return n;
}
function cleanEvent(e) {
  const out = { Type: e.Type ?? 'CREATE' };
  for (const k of ['Source', 'Target', 'Silent', 'Optimistic']) if (e[k] != null) out[k] = e[k];
  return out;
}

// ---------------------------------------------------------------- valibot

async function valibotParsers() {
  const v = await import('valibot').catch(() => undefined);
  if (!v) return undefined;
  // valibot's object() accepts arrays; the payloads must be JSON objects.
  const record = (entries) => v.pipe(v.custom(isRecord, 'must be an object'), v.looseObject(entries));
  const int64 = v.nullish(v.union([v.string(), v.pipe(v.number(), v.finite(), v.transform(String))]));
  const node = v.pipe(
    record({ ...Object.fromEntries(INT64_KEYS.map((k) => [k, int64])), MetaStore: v.nullish(v.pipe(v.custom(isRecord), v.record(v.string(), v.unknown()), v.transform(metaStrings))) }),
    v.transform(cleanNode),
  );
  const nodeEvent = v.pipe(
    v.custom(isRecord, 'must be an object'),
    v.object({ Type: v.nullish(v.string()), Source: v.nullish(node), Target: v.nullish(node), Silent: v.nullish(v.boolean()), Optimistic: v.nullish(v.boolean()) }),
    v.check((e) => Boolean(e.Source || e.Target), 'needs a Source or a Target'),
    v.transform(cleanEvent),
  );
  const task = record({ TaskUpdated: record({ TriggerOwner: v.nullish(v.string()) }), Job: v.nullish(record({})) });
  const str = v.nullish(v.string());
  const idm = record({
    Type: str,
    User: v.nullish(record({ Uuid: str, Login: str })),
    Role: v.nullish(record({ Uuid: str })),
    Workspace: v.nullish(record({ UUID: str })),
    Acl: v.nullish(record({ RoleID: str, Action: v.nullish(record({ Name: str })) })),
  });
  const check = (schema) => (raw) => {
    const r = v.safeParse(schema, raw);
    if (!r.success) throw new Error(r.issues[0].message);
    return raw;
  };
  return { node: (raw) => v.parse(nodeEvent, raw), task: check(task), idm: check(idm) };
}

// ---------------------------------------------------------------- zod 4: src/protocol, as it ships

async function zodParsers() {
  const dist = new URL('../dist/', import.meta.url);
  if (!existsSync(new URL('protocol/events.js', dist))) return undefined;
  const [node, task, idm] = await Promise.all(['node', 'task', 'idm'].map((t) => import(new URL(`topics/${t}-event.js`, dist).href)));
  return { node: node.parseNodeEvent, task: task.parseTaskEvent, idm: idm.parseIdmEvent };
}

// ---------------------------------------------------------------- measure

const impls = { handwritten: { node: handwritten.parseNodeEvent, task: handwritten.parseTaskEvent, idm: handwritten.parseIdmEvent } };
for (const [name, load, missing] of [
  ['zod (src/protocol)', zodParsers, 'npm run build'],
  ['valibot', valibotParsers, 'npm install --no-save valibot'],
]) {
  const parsers = await load();
  if (parsers) impls[name] = parsers;
  else console.log(`${name}: left out (${missing})`);
}

// Same output as the baseline, or the comparison means nothing.
for (const [name, parsers] of Object.entries(impls)) {
  for (const [payload, items] of Object.entries(PAYLOADS)) {
    assert.deepEqual(parsers[payload](items[0]), handwritten[`parse${{ node: 'Node', task: 'Task', idm: 'Idm' }[payload]}Event`](items[0]), `${name} ${payload}`);
  }
}

const jsonParse = (item) => JSON.parse(textOf.get(item));
impls['JSON.parse (scale)'] = { node: jsonParse, task: jsonParse, idm: jsonParse };

let sink = 0;
function timeBatch(parse, items) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < BATCH; i++) sink ^= parse(items[i & 255]) === undefined ? 1 : 0;
  return Number(process.hrtime.bigint() - start) / BATCH;
}

const cells = Object.keys(PAYLOADS).flatMap((payload) => Object.keys(impls).map((impl) => ({ payload, impl, samples: [] })));
for (const c of cells) timeBatch(impls[c.impl][c.payload], PAYLOADS[c.payload]); // warm-up: let the JIT settle
for (let rep = 0; rep < REPS; rep++) {
  for (let k = 0; k < cells.length; k++) {
    const c = cells[(k + rep) % cells.length];
    c.samples.push(timeBatch(impls[c.impl][c.payload], PAYLOADS[c.payload]));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`node ${process.version}, ${REPS} reps x ${BATCH} parses, median ns/parse (ratio to handwritten)`);
console.log(['payload'.padEnd(8), ...Object.keys(impls).map((n) => n.padStart(22))].join(''));
console.log(`payload bytes: ${Object.entries(PAYLOADS).map(([k, v]) => `${k} ${textOf.get(v[0]).length}`).join(', ')}`);
for (const payload of Object.keys(PAYLOADS)) {
  const row = cells.filter((c) => c.payload === payload);
  const base = median(row.find((c) => c.impl === 'handwritten').samples);
  const fmt = (c) => {
    const m = median(c.samples);
    return `${m.toFixed(0)} ns (${(m / base).toFixed(2)}x)`.padStart(22);
  };
  console.log([payload.padEnd(8), ...row.map(fmt)].join(''));
}
if (sink === 42) console.log(''); // keeps the results alive
