/** Jest globalTeardown: stops the suite's redis-server (global-setup.mjs) and removes its directory. */
import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  const redis = globalThis.__SWITCHBOARD_TEST_REDIS__;
  if (!redis) return;
  if (redis.proc.exitCode === null) await new Promise((resolve) => (redis.proc.once('exit', resolve), redis.proc.kill('SIGKILL')));
  rmSync(redis.dir, { recursive: true, force: true });
  delete globalThis.__SWITCHBOARD_TEST_REDIS__;
}
