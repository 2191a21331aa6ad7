/**
 * The import graph of `src/` (every `import`, `import type` and `export ... from` included):
 * dependencies point one way, and no file or folder reaches itself through others.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = join(process.cwd(), 'src');

/** Every `src/` file (relative path) with the `src/` files it imports. */
function importGraph(): Map<string, string[]> {
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const known = new Set(files);
  return new Map(
    files.map((file) => {
      const text = readFileSync(join(root, file), 'utf8');
      const targets = [...text.matchAll(/(?:from|import)\s+'(\.[^']+)'/g)].map((m) => relative(root, join(root, dirname(file), m[1])).replace(/\.js$/, '.ts'));
      return [file, targets.filter((t) => known.has(t))];
    }),
  );
}

const folderOf = (file: string) => (file.includes('/') ? file.split('/')[0] : '.');

/** The folders each folder imports (itself left out). */
function folderGraph(files: Map<string, string[]>): Map<string, string[]> {
  const folders = new Map<string, Set<string>>();
  for (const [file, targets] of files) {
    const from = folderOf(file);
    const set = folders.get(from) ?? new Set();
    folders.set(from, set);
    for (const t of targets) if (folderOf(t) !== from) set.add(folderOf(t));
  }
  return new Map([...folders].map(([k, v]) => [k, [...v]]));
}

/** The strongly connected components with more than one node (or a self-loop): the cycles (Tarjan). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('module dependencies point one way', () => {
  // Gateways read frames and depend on everything; nothing depends on them. Sessions know no
  // topic, chat, push or delivery; the bus and the history know no feature; topics, push and
  // chat know the delivery's contract (delivery/topic.ts), never the other way round.
  const features = ['gateways', 'topics', 'chat', 'push', 'ops'];
  it.each([
    ['topics', ['gateways', 'chat', 'push', 'ops', 'calls', 'admin']],
    ['push', ['gateways', 'topics', 'chat', 'ops', 'calls', 'admin']],
    ['chat', ['gateways', 'topics', 'push', 'ops', 'calls', 'admin']],
    ['delivery', [...features, 'calls', 'admin']],
    ['history', [...features, 'delivery', 'sessions', 'calls', 'admin']],
    ['sessions', [...features, 'delivery', 'bus', 'calls', 'admin']],
    ['bus', [...features, 'delivery', 'history', 'sessions', 'calls', 'admin']],
    ['auth', [...features, 'delivery', 'history', 'sessions', 'bus', 'calls', 'admin']],
    ['calls', [...features, 'bus', 'history', 'delivery', 'admin']],
    ['admin', [...features, 'bus', 'history', 'delivery', 'calls']],
    ['memory', [...features, 'delivery', 'history', 'sessions', 'bus', 'auth', 'redis', 'calls', 'admin']],
    ['metrics', [...features, 'delivery', 'history', 'sessions', 'bus', 'auth', 'redis', 'memory', 'calls', 'admin']],
    ['protocol', [...features, 'delivery', 'history', 'sessions', 'bus', 'auth', 'redis', 'metrics', 'common', 'config', 'calls', 'admin']],
  ])('%s imports none of %j', (folder, forbidden) => {
    const offending = [...importGraph()]
      .filter(([file]) => file.startsWith(`${folder}/`))
      .flatMap(([file, targets]) => targets.filter((t) => forbidden.includes(folderOf(t))).map((t) => `${file} -> ${t}`));
    expect(offending).toEqual([]);
  });

  it('has no import cycle among files', () => {
    expect(cycles(importGraph())).toEqual([]);
  });

  it('has no import cycle among the folders of src/', () => {
    expect(cycles(folderGraph(importGraph()))).toEqual([]);
  });

  it.each<[string, Array<[string, string[]]>, string[][]]>([
    ['a chain', [['a', ['b']], ['b', ['c']], ['c', []]], []],
    ['a circle of three', [['a', ['b']], ['b', ['c']], ['c', ['a']]], [['a', 'b', 'c']]],
    ['a self-loop', [['a', ['a']]], [['a']]],
    ['two circles joined by one edge', [['a', ['b']], ['b', ['a', 'c']], ['c', ['d']], ['d', ['c']]], [['c', 'd'], ['a', 'b']]],
  ])('finds the cycles of %s (the check itself)', (_name, edges, expected) => {
    expect(cycles(new Map(edges))).toEqual(expected);
  });
});
