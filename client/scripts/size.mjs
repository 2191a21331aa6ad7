// Prints the bundle size of the client (and of the React bindings on top of it), minified and
// gzipped, as an app bundler would ship them: `npm run size:client`.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const src = (path) => fileURLToPath(new URL(path, import.meta.url));
async function measure(name, entry, external) {
  const result = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', target: 'es2022', write: false, external, jsx: 'automatic' });
  const code = result.outputFiles[0].contents;
  console.log(`${name}: ${code.length} bytes minified, ${gzipSync(code, { level: 9 }).length} bytes minified + gzip`);
}
await measure('@switchboard/client', src('../src/index.ts'), []);
await measure('@switchboard/react (without react and the client)', src('../../react/src/index.tsx'), ['react', 'react/jsx-runtime', '@switchboard/client']);
