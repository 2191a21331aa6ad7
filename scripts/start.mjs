// `npm start`: builds when dist/ is missing or older than src/, loads .env when there is one, runs the service.
// `--build-only`: the build when stale, and nothing else (tests that run dist/ themselves).
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
    const p = join(dir, e.name);
    return Math.max(max, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }, 0);

if (!existsSync('dist/main.js') || newest('src') > statSync('dist/main.js').mtimeMs) {
  execSync('npm run build', { stdio: 'inherit' });
}
if (process.argv.includes('--build-only')) process.exit(0);
if (existsSync('.env')) process.loadEnvFile('.env');
await import('../dist/main.js');
