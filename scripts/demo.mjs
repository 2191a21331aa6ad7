// `npm run demo`: the service in embedded mode (no Redis) with DEMO_MODE=true, serving the example
// page at http://127.0.0.1:5050/demo/. Demo mode generates its own JWT secret and API key at each
// start and refuses to run next to anything of a deployment (README, "In the browser"): what of
// that the shell holds is left out here, with a line saying so. Loopback only.
// Builds only what is stale (the service when src/ is newer than dist/main.js, the page when its
// sources or the packages' are newer than its build), and prints the logs readably (pino-pretty).
import { execSync, spawn } from 'node:child_process';
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
  HOST: '127.0.0.1',
  PORT: '5050',
  NODE_BATCH_WINDOW_MS: '300',
  NODE_BATCH_MAX_WAIT_MS: '1000',
  LOG_LEVEL: 'info',
  ...process.env,
};
// The demo runs alone (embedded, one instance, in memory): none of a deployment's settings.
const deployment = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES', 'JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_JWKS_URL', 'API_KEY', 'ADMIN_API_KEY', 'CALL_ROUTES', 'CALL_SIGNING_SECRET', 'WORKSPACES_URL', 'NODE_LOOKUP_URL', 'CHAT_NODE_AUTH_URL'];
const dropped = deployment.filter((name) => env[name] !== undefined);
for (const name of dropped) delete env[name];
if (dropped.length) console.log(`demo: ignoring ${dropped.join(', ')} from the environment (the demo generates its own secret and key and runs alone)`);
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
