// `npm run pack:client` (after `npm run build:client`): packs @switchboard/client and
// @switchboard/react into dist/packages/*.tgz and checks that each tarball stands alone: every
// import of a shipped .js / .d.ts file resolves inside the package or names an allowed
// dependency (react, the client), and every source map points at a shipped file.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist/packages');
mkdirSync(out, { recursive: true });

const ALLOWED = { '@switchboard/client': [], '@switchboard/react': ['react', 'react/jsx-runtime', '@switchboard/client'] };

const packed = JSON.parse(execFileSync('npm', ['pack', '-w', 'client', '-w', 'react', '--pack-destination', out, '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }));
const problems = [];
for (const { name, filename } of packed) {
  const tarball = join(out, filename);
  const dir = mkdtempSync(join(tmpdir(), 'sb-pack-'));
  execFileSync('tar', ['-xzf', join(out, filename), '-C', dir]);
  const pkg = join(dir, 'package');
  const files = readdirSync(pkg, { recursive: true, encoding: 'utf8' });
  for (const file of files.filter((f) => /\.(js|d\.ts)$/.test(f))) {
    const text = readFileSync(join(pkg, file), 'utf8');
    const specs = [...text.matchAll(/^\s*(?:(?:import|export)\b[^'"\n]*?\bfrom|import)\s*['"]([^'"]+)['"]/gm), ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)];
    for (const [, spec] of specs) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(join(pkg, file)), spec);
        const inside = !relative(pkg, target).startsWith('..');
        const exists = [target, target.replace(/\.js$/, '.d.ts')].some((t) => files.includes(relative(pkg, t)));
        if (!inside || !exists) problems.push(`${name}: ${file} imports ${spec}, not in the package`);
      } else if (!ALLOWED[name].includes(spec)) problems.push(`${name}: ${file} imports ${spec}, not a declared dependency`);
    }
  }
  for (const file of files.filter((f) => f.endsWith('.map'))) {
    const map = JSON.parse(readFileSync(join(pkg, file), 'utf8'));
    for (const source of map.sources) {
      if (!files.includes(relative(pkg, resolve(dirname(join(pkg, file)), source)))) problems.push(`${name}: ${file} maps to ${source}, not in the package`);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`${name}: ${tarball}`);
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
