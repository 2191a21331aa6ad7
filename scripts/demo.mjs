// `npm run demo`: the service in embedded mode (no Redis) with DEMO_MODE=true, serving the example
// page at http://127.0.0.1:5050/demo/. A fresh dev secret and API key each run; loopback only.
// Builds only what is stale (the service when src/ is newer than dist/main.js, the page when its
// sources or the packages' are newer than its build), and prints the logs readably (pino-pretty).
import { execSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const newest = (...dirs) =>
  Math.max(
    ...dirs.map((dir) =>
      readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
        const p = join(dir, e.name);
        return Math.max(max, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
      }, 0),
    ),
  );
const builtAt = (file) => (existsSync(file) ? statSync(file).mtimeMs : 0);

if (newest('src') > builtAt('dist/main.js')) execSync('npm run build', { stdio: 'inherit' });
else console.log('service: up to date (dist/main.js)');
const page = ['examples/web/src', 'examples/web/index.html', 'client/src', 'react/src', 'src/protocol'];
if (Math.max(...page.map((p) => (statSync(p).isDirectory() ? newest(p) : statSync(p).mtimeMs))) > builtAt('examples/web/dist/index.html')) {
  execSync('npm run build:web', { stdio: 'inherit' });
} else console.log('page: up to date (examples/web/dist)');

const env = {
  DEMO_MODE: 'true',
  JWT_SECRET: `demo-${randomBytes(16).toString('hex')}`,
  API_KEY: `demo-${randomBytes(16).toString('hex')}`,
  HOST: '127.0.0.1',
  PORT: '5050',
  NODE_BATCH_WINDOW_MS: '300',
  NODE_BATCH_MAX_WAIT_MS: '1000',
  LOG_LEVEL: 'info',
  ...process.env,
};
delete env.REDIS_URL; // embedded: one instance, in memory
console.log(`\nSwitchboard demo: open http://${env.HOST}:${env.PORT}/demo/ (two windows, two users)\n`);
const service = spawn(process.execPath, ['dist/main.js'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
const pretty = spawn(process.execPath, ['node_modules/pino-pretty/bin.js', '--colorize', '--translateTime', 'SYS:HH:MM:ss', '--ignore', 'pid,hostname,req,res,context', '--messageKey', 'msg'], {
  stdio: ['pipe', 'inherit', 'inherit'],
});
service.stdout.pipe(pretty.stdin);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => service.kill(signal));
service.on('exit', (code) => {
  pretty.stdin.end();
  process.exitCode = code ?? 0;
});
