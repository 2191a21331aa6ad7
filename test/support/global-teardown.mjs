/** Jest globalTeardown: stops the suite's redis-server (global-setup.mjs) and removes its directory. */
import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  const redis = globalThis.__SWITCHBOARD_TEST_REDIS__;
  if (!redis) return;
  try {
    process.kill(redis.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  if (redis.shell.exitCode === null) await new Promise((resolve) => (redis.shell.once('exit', resolve), redis.shell.stdin.end()));
  rmSync(redis.dir, { recursive: true, force: true });
  delete globalThis.__SWITCHBOARD_TEST_REDIS__;
}
