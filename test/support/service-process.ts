/**
 * The service as it is deployed: its own Node process (`node scripts/start.mjs`, which builds
 * dist/ when src/ is newer), for what only a real process shows: that it survives (a throw in
 * a timer ends a process, but not a Jest test), how it takes signals, its own heap.
 *
 * SERVICE_DIST=<dir> runs `<dir>/main.js` instead (another build, e.g. a copy of main's dist/):
 * the check that a regression test fails on the build before the change it guards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHAT_KEY_PREFIX, REVOCATIONS_KEY } from './test-redis.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Test-only preload: a full GC every 200 ms, so that the heap the service reports is what it keeps. */
const GC_PRELOAD = 'data:text/javascript,setInterval(()=>globalThis.gc(),200).unref()';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class ServiceProcess {
  /** Set when the process ended: its exit code, or the signal that ended it. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  readonly exited: Promise<void>;
  private readonly tail: string[] = [];
  /** Lines logged at level error or above (pino: 50+). */
  readonly errors: string[] = [];

  private constructor(
    readonly proc: ChildProcess,
    readonly url: string,
    readonly wsUrl: string,
  ) {
    const keep = (d: Buffer) => {
      const lines = d.toString().split('\n').filter(Boolean);
      for (const line of lines) if (/"level":(5|6)\d/.test(line) && this.errors.length < 100) this.errors.push(line.slice(0, 2000));
      this.tail.push(...lines);
      this.tail.splice(0, Math.max(0, this.tail.length - 40));
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(void (this.exit = { code, signal }))));
  }

  /** `nodeArgs`: flags for the service's Node (`--max-old-space-size=96`), not for the build it may run. */
  static async start(env: Record<string, string>, { gc = false, nodeArgs = [] as string[] } = {}): Promise<ServiceProcess> {
    const port = await freePort();
    // Jest's VM-modules flag is not for the service; nor is a REDIS_URL of the shell: the test's
    // env alone says which Redis (TEST_REDIS_URL) or none (embedded).
    const { NODE_OPTIONS: _omit, REDIS_URL: _redis, ...parentEnv } = process.env;
    const main = process.env.SERVICE_DIST ? join(resolve(process.env.SERVICE_DIST), 'main.js') : 'scripts/start.mjs';
    const args = [...nodeArgs, ...(gc ? ['--expose-gc', '--import', GC_PRELOAD] : []), main];
    const proc = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...parentEnv, HOST: '127.0.0.1', LOG_LEVEL: 'warn', CHAT_KEY_PREFIX, REVOCATIONS_KEY, ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(proc, `http://127.0.0.1:${port}`, `ws://127.0.0.1:${port}`);
    // The first start may build dist/ (a few seconds).
    for (let i = 0; i < 600 && !service.exit; i++) {
      if (await fetch(`${service.url}/healthz`).then((r) => r.ok, () => false)) return service;
      await new Promise((r) => setTimeout(r, 100));
    }
    proc.kill('SIGKILL');
    throw new Error(`service did not start: ${service.output()}`);
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** The last lines it wrote, for failure messages. */
  output(): string {
    return this.tail.join('\n');
  }

  async metric(name: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return Number(line?.split(' ')[1]);
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}
