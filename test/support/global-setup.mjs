/**
 * Jest globalSetup: one private redis-server for the whole suite, on a free loopback port, its
 * URL exported as TEST_REDIS_URL, so that no test touches a Redis of the machine (nor needs
 * one: 127.0.0.1:6379 is never used). A TEST_REDIS_URL already set is used as it is.
 * global-teardown.mjs stops it and removes its directory.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** True when a PING on a fresh connection gets +PONG. */
function answers(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(String(d).startsWith('+PONG')));
  });
}

export default async function globalSetup() {
  if (process.env.TEST_REDIS_URL) return;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-test-redis-'));
  // Under a small shell that SIGKILLs it when its standard input closes: when Jest ends,
  // however it ends (stopped by a signal or killed included), the server goes with it.
  const script = 'redis-server "$@" >/dev/null 2>&1 & echo $!; read _; kill -9 $! 2>/dev/null; wait';
  const argv = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'];
  const shell = spawn('sh', ['-c', script, 'sh', ...argv], { stdio: ['pipe', 'pipe', 'ignore'] });
  const pid = await new Promise((resolve, reject) => {
    shell.stdout.once('data', (d) => resolve(Number(String(d).trim())));
    shell.once('error', reject);
  });
  for (let i = 0; i < 200 && !(await answers(port)); i++) await new Promise((r) => setTimeout(r, 25));
  if (!(await answers(port))) {
    shell.stdin.end();
    throw new Error(`redis-server did not answer on port ${port}: install it (apt-get install redis-server) or set TEST_REDIS_URL`);
  }
  globalThis.__SWITCHBOARD_TEST_REDIS__ = { shell, pid, dir };
  process.env.TEST_REDIS_URL = `redis://127.0.0.1:${port}`;
}
