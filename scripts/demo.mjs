// `npm run demo`: the service in embedded mode (no Redis) with DEMO_MODE=true, serving the example
// page at http://127.0.0.1:5050/demo/. A fresh dev secret and API key each run; loopback only.
import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

execSync('npm run build && npm run build:web', { stdio: 'inherit' });
const defaults = {
  DEMO_MODE: 'true',
  JWT_SECRET: `demo-${randomBytes(16).toString('hex')}`,
  API_KEY: `demo-${randomBytes(16).toString('hex')}`,
  HOST: '127.0.0.1',
  PORT: '5050',
  NODE_BATCH_WINDOW_MS: '300',
  NODE_BATCH_MAX_WAIT_MS: '1000',
  LOG_LEVEL: 'warn',
};
for (const [k, v] of Object.entries(defaults)) process.env[k] ??= v;
delete process.env.REDIS_URL; // embedded: one instance, in memory
console.log(`\nSwitchboard demo: open http://${process.env.HOST}:${process.env.PORT}/demo/ (two windows, two users)\n`);
await import('../dist/main.js');
