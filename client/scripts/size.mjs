// Prints the bundle size of the client (and of the React bindings on top of it), minified and
// gzipped, as an app bundler would ship them: `npm run size:client`. The whole package, then
// what an app ships with and without tab sharing (`share: shareTabs()`, tree-shaken otherwise).
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const src = (path) => fileURLToPath(new URL(path, import.meta.url));
async function measure(name, entry, external) {
  const input = typeof entry === 'string' ? { entryPoints: [entry] } : { stdin: { ...entry, resolveDir: src('../src'), loader: 'ts' } };
  const result = await build({ ...input, bundle: true, minify: true, format: 'esm', target: 'es2022', write: false, external, jsx: 'automatic' });
  const code = result.outputFiles[0].contents;
  console.log(`${name}: ${code.length} bytes minified, ${gzipSync(code, { level: 9 }).length} bytes minified + gzip`);
}
await measure('@switchboard/client', src('../src/index.ts'), []);
await measure('  an app without share', { contents: "import { Switchboard } from './index.js'; export const c = new Switchboard({ token: () => '' });" }, []);
await measure('  an app with share: shareTabs()', { contents: "import { Switchboard, shareTabs } from './index.js'; export const c = new Switchboard({ token: () => '', share: shareTabs() });" }, []);
await measure('@switchboard/react (without react and the client)', src('../../react/src/index.tsx'), ['react', 'react/jsx-runtime', '@switchboard/client']);
