import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Every `src/` file with the `src/` folders its imports reach. */
function importsBySource(): [string, string[]][] {
  const root = join(process.cwd(), 'src');
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  return files.map((file) => {
    const text = readFileSync(join(root, file), 'utf8');
    const folders = [...text.matchAll(/from '(\.[^']+)'/g)].map((m) => relative(root, join(root, file, '..', m[1])).split('/')[0]);
    return [file, folders];
  });
}

describe('module dependencies point one way', () => {
  // Gateways read frames and depend on everything; nothing depends on them. Sessions know no
  // topic, chat or push; the bus knows no feature but the sessions' types.
  it.each([
    ['topics', ['gateways', 'chat', 'push']],
    ['push', ['gateways', 'topics', 'chat']],
    ['chat', ['gateways', 'topics', 'push']],
    ['history', ['gateways', 'topics', 'chat', 'push']],
    ['sessions', ['gateways', 'topics', 'chat', 'push', 'bus']],
    ['bus', ['gateways', 'topics', 'chat', 'push']],
    ['auth', ['gateways', 'topics', 'chat', 'push', 'sessions', 'bus', 'calls', 'admin']],
    ['calls', ['gateways', 'topics', 'chat', 'push', 'bus', 'history', 'admin']],
    ['admin', ['gateways', 'topics', 'chat', 'push', 'bus', 'history', 'calls']],
  ])('%s imports none of %j', (folder, forbidden) => {
    const offending = importsBySource()
      .filter(([file]) => file.startsWith(`${folder}/`))
      .flatMap(([file, folders]) => folders.filter((f) => forbidden.includes(f)).map((f) => `${file} -> ${f}`));
    expect(offending).toEqual([]);
  });
});
