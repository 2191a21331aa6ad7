// Prints the client's bundle size, minified and gzipped, as an app bundler would ship it.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const result = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', target: 'es2022', write: false });
const code = result.outputFiles[0].contents;
const gzip = gzipSync(code, { level: 9 }).length;
console.log(`@switchboard/client: ${code.length} bytes minified, ${gzip} bytes minified + gzip`);
