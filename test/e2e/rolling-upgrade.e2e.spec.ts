/**
 * A rolling upgrade under load, at CI size (bench/rolling-upgrade.mjs does it; the full size,
 * 3,000 clients and an upgrade from the previous version, is in docs/BENCHMARKS.md): three pods
 * behind a round-robin balancer, 300 clients of @switchboard/client, task events published the
 * whole time, each pod stopped (1001 with a retry hint) and started again in turn. Every client
 * gets every event of its user exactly once: what it missed while reconnecting comes by resume.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TEST_REDIS_URL } from '../support/test-redis.js';

jest.setTimeout(240_000);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Rolled {
  deliveriesExpected: number;
  lost: number;
  duplicated: number;
  resets: number;
  withoutBarrier: number;
  steps: { reconnected: number; firstMs: number; lastMs: number }[];
}

describe('a rolling restart of three pods with 300 clients and events flowing', () => {
  it('loses no event, doubles none, resets nobody, and spreads the reconnects over the hinted window', async () => {
    // The script runs the built service and client (as the benches do); built here when stale.
    execFileSync('node', ['scripts/start.mjs', '--build-only'], { cwd: ROOT, stdio: 'inherit' });
    execFileSync('npx', ['tsc', '-b', 'client'], { cwd: ROOT, stdio: 'inherit' });
    const { NODE_OPTIONS: _jest, ...env } = process.env;
    const child = spawn(process.execPath, ['bench/rolling-upgrade.mjs', '--clients', '300', '--users', '30', '--rate', '50', '--window', '3000', '--redis', TEST_REDIS_URL], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    const r = JSON.parse(out) as Rolled;
    expect(r.deliveriesExpected).toBeGreaterThan(3000);
    expect([r.lost, r.duplicated, r.resets, r.withoutBarrier]).toEqual([0, 0, 0, 0]);
    for (const step of r.steps) {
      // About a third of the clients were on each pod; they came back spread over the window, not at once.
      expect(step.reconnected).toBeGreaterThanOrEqual(60);
      expect(step.lastMs - step.firstMs).toBeGreaterThan(1000);
    }
  });
});
