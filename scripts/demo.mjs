// `npm run demo`: the service in embedded mode (no Redis) with DEMO_MODE=true, serving the example
// page at http://127.0.0.1:5050/demo/. Demo mode generates its own JWT secret and API key at each
// start and refuses to run next to anything of a deployment (README, "In the browser"): what of
// that the shell holds is left out here, with a line saying so. Loopback only.
import { execSync } from 'node:child_process';

execSync('npm run build && npm run build:web', { stdio: 'inherit' });
const defaults = {
  DEMO_MODE: 'true',
  HOST: '127.0.0.1',
  PORT: '5050',
  NODE_BATCH_WINDOW_MS: '300',
  NODE_BATCH_MAX_WAIT_MS: '1000',
  LOG_LEVEL: 'warn',
};
for (const [k, v] of Object.entries(defaults)) process.env[k] ??= v;
// The demo runs alone (embedded, one instance, in memory): none of a deployment's settings.
const deployment = ['REDIS_URL', 'JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_JWKS_URL', 'API_KEY', 'WORKSPACES_URL', 'NODE_LOOKUP_URL', 'CHAT_NODE_AUTH_URL'];
const dropped = deployment.filter((name) => process.env[name] !== undefined);
for (const name of dropped) delete process.env[name];
if (dropped.length) console.log(`demo: ignoring ${dropped.join(', ')} from the environment (the demo generates its own secret and key and runs alone)`);
console.log(`\nSwitchboard demo: open http://${process.env.HOST}:${process.env.PORT}/demo/ (two windows, two users)\n`);
await import('../dist/main.js');
