/**
 * Real Redis topologies on loopback ports, started by the test or bench that needs them: a
 * single server, a Sentinel set-up (1 master, 1 replica, 3 sentinels) and a Redis Cluster
 * (3 masters, 3 replicas), each in a few seconds, with a helper that SIGKILLs a master and
 * waits until its replica is promoted, and a teardown that kills every process and removes
 * every temporary directory. Debian's `redis-server` plays every role (`--sentinel`,
 * `--cluster-enabled yes`); `redis-cli --cluster create` joins the cluster.
 *
 * Plain JavaScript so that benches (bench/*.mjs, any Node) and tests (through
 * redis-topology.ts, typed by redis-topology.d.mts) share it.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

/** A port nobody listens on now (the kernel's choice; released before it is used). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** `count` free ports, all different (the kernel may hand a released port out again). */
export async function distinctFreePorts(count) {
  const ports = new Set();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Polls `probe` every 50 ms until it answers true, or throws after `timeoutMs`. */
export async function until(what, probe, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One command to the server on `port`, on a short-lived connection; throws when it does not answer. */
export async function redisCall(port, ...args) {
  const redis = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 1000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await redis.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    redis.disconnect();
  }
}

/**
 * Starts `redis-server <argv>` under a small shell that SIGKILLs it when its standard input
 * closes: when this process ends, however it ends (a run stopped by a signal or killed
 * included), no redis-server is left behind. Answers the shell and redis-server's pid.
 */
async function spawnTied(argv) {
  const script = 'redis-server "$@" >/dev/null 2>&1 & echo $!; read _; kill -9 $! 2>/dev/null; wait';
  const shell = spawn('sh', ['-c', script, 'sh', ...argv], { stdio: ['pipe', 'pipe', 'ignore'] });
  const pid = await new Promise((resolve, reject) => {
    shell.stdout.once('data', (d) => resolve(Number(String(d).trim())));
    shell.once('error', reject);
    shell.once('exit', () => reject(new Error('redis-server did not start')));
  });
  return { shell, pid };
}

/** One redis-server process (any role), in a directory of its own. */
export class RedisProcess {
  #shell;
  #killed = false;

  constructor(port, shell, pid) {
    /** Its port on 127.0.0.1. */
    this.port = port;
    /** redis-server's own pid (its CPU is in /proc/<pid>/stat). */
    this.pid = pid;
    this.#shell = shell;
  }

  /** Starts `redis-server <args>` on `port` and waits until it answers PING. */
  static async start(port, dir, args = [], conf) {
    const argv = [...(conf ? [conf] : []), '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', ...args];
    const { shell, pid } = await spawnTied(argv);
    const node = new RedisProcess(port, shell, pid);
    try {
      await until(`redis-server on ${port}`, () => node.ping());
    } catch (err) {
      await node.kill();
      throw err;
    }
    return node;
  }

  get alive() {
    return !this.#killed && this.#shell.exitCode === null;
  }

  async ping() {
    return (await this.call('PING')) === 'PONG';
  }

  /** One command on a short-lived connection; throws when the server does not answer. */
  call(...args) {
    return redisCall(this.port, ...args);
  }

  /** `INFO <section>` as a map. */
  async info(section) {
    const text = String(await this.call('INFO', section));
    return Object.fromEntries(text.split('\r\n').flatMap((line) => (line.includes(':') ? [line.split(/:(.*)/s).slice(0, 2)] : [])));
  }

  /** SIGSTOP (frozen: reads and answers nothing) or SIGCONT (goes on). */
  signal(signal) {
    process.kill(this.pid, signal);
  }

  /** SIGKILL at once, without waiting (a process 'exit' handler). */
  killNow() {
    this.#killed = true;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** SIGKILL: no shutdown, no last write. Resolves once the shell reaped it. */
  async kill() {
    if (this.#killed && this.#shell.exitCode !== null) return;
    this.killNow();
    if (this.#shell.exitCode !== null) return;
    await new Promise((resolve) => {
      this.#shell.once('exit', resolve);
      this.#shell.stdin.end();
    });
  }
}

/** One redis-server on a free port, in a temporary directory of its own. */
export class SingleTopology {
  #dir;

  constructor(dir, node) {
    this.#dir = dir;
    this.node = node;
    this.nodes = [node];
  }

  static async start() {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-single-'));
    try {
      return new SingleTopology(dir, await RedisProcess.start(await freePort(), dir));
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get url() {
    return `redis://127.0.0.1:${this.node.port}`;
  }

  /** REDIS_URL for the service. */
  get env() {
    return { REDIS_URL: this.url };
  }

  /** Every redis-server of the topology. */
  get processes() {
    return this.nodes;
  }

  /** Synchronous teardown for a process 'exit' handler: SIGKILL, directory removed. */
  stopNow() {
    this.node.killNow();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async stop() {
    await this.node.kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** 1 master, 1 replica and 3 sentinels (quorum 2), failing over within about 1-2 s of a master's death. */
export class SentinelTopology {
  static NAME = 'switchboard-test';
  #dir;

  constructor(dir, nodes, sentinels) {
    this.#dir = dir;
    this.nodes = nodes;
    this.sentinels = sentinels;
  }

  static async start() {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-sentinel-'));
    const nodes = [];
    const sentinels = [];
    const topology = new SentinelTopology(dir, nodes, sentinels);
    try {
      const [masterPort, replicaPort] = await distinctFreePorts(2);
      nodes.push(
        ...(await Promise.all([
          RedisProcess.start(masterPort, mkdir(dir, 'master')),
          RedisProcess.start(replicaPort, mkdir(dir, 'replica'), ['--replicaof', '127.0.0.1', String(masterPort)]),
        ])),
      );
      await until('the replica in sync', async () => (await nodes[1].info('replication')).master_link_status === 'up');
      // Each sentinel is told the others and the replica up front (what it would otherwise learn
      // from hello messages every 2 s): the set-up is ready for a failover at once.
      const peers = (await distinctFreePorts(3)).map((port) => ({ port, id: randomBytes(20).toString('hex') }));
      const started = await Promise.all(
        peers.map(({ port, id }, i) => {
          const sdir = mkdir(dir, `sentinel-${i}`);
          const conf = join(sdir, 'sentinel.conf');
          // Sentinel rewrites its own configuration file: each has a file of its own.
          const name = SentinelTopology.NAME;
          const lines = [
            `sentinel myid ${id}`,
            `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
            `sentinel down-after-milliseconds ${name} 1000`,
            `sentinel failover-timeout ${name} 5000`,
            `sentinel parallel-syncs ${name} 1`,
            `sentinel known-replica ${name} 127.0.0.1 ${replicaPort}`,
            ...peers.filter((p) => p.id !== id).map((p) => `sentinel known-sentinel ${name} 127.0.0.1 ${p.port} ${p.id}`),
          ];
          writeFileSync(conf, lines.join('\n') + '\n');
          return RedisProcess.start(port, sdir, ['--sentinel'], conf);
        }),
      );
      sentinels.push(...started);
      // Ready for a failover once every sentinel knows the replica and the two other sentinels.
      await until('the sentinels to know each other', async () => {
        for (const s of sentinels) {
          const fields = pairs(await s.call('SENTINEL', 'MASTER', SentinelTopology.NAME));
          if (fields['num-other-sentinels'] !== '2' || fields['num-slaves'] !== '1') return false;
        }
        return true;
      });
      return topology;
    } catch (err) {
      await topology.stop();
      throw err;
    }
  }

  /** REDIS_SENTINELS and REDIS_SENTINEL_NAME for the service. */
  get env() {
    return { REDIS_SENTINELS: this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(','), REDIS_SENTINEL_NAME: SentinelTopology.NAME };
  }

  /** Every redis-server of the topology: the data nodes, then the sentinels. */
  get processes() {
    return [...this.nodes, ...this.sentinels];
  }

  /** The data node the sentinels call master now. */
  async master() {
    const [, port] = await this.sentinels.find((s) => s.alive).call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SentinelTopology.NAME);
    return this.nodes.find((n) => n.port === Number(port));
  }

  /** SIGKILLs the master and waits until the sentinels promoted the replica and it takes writes. Answers the new master. */
  async killMaster() {
    const old = await this.master();
    await old.kill();
    const next = this.nodes.find((n) => n !== old);
    await until('the replica promoted', async () => (await this.master()) === next && (await next.info('replication')).role === 'master');
    return next;
  }

  /** Synchronous teardown for a process 'exit' handler: SIGKILL, directory removed. */
  stopNow() {
    for (const p of this.processes) p.killNow();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async stop() {
    await Promise.all(this.processes.map((p) => p.kill()));
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** 3 masters with a replica each, every slot covered; a replica takes over about 1-2 s after its master died. */
export class ClusterTopology {
  #dir;

  constructor(dir, nodes) {
    this.#dir = dir;
    this.nodes = nodes;
  }

  static async start() {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-cluster-'));
    const nodes = [];
    const topology = new ClusterTopology(dir, nodes);
    try {
      const ports = await distinctFreePorts(12);
      const started = await Promise.all(
        [0, 1, 2, 3, 4, 5].map((i) => {
          // The cluster bus port is chosen too: the default (port + 10000) may be taken or out of range.
          const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000', '--cluster-port', String(ports[6 + i])];
          return RedisProcess.start(ports[i], mkdir(dir, `node-${i}`), args);
        }),
      );
      nodes.push(...started);
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 });
      await topology.settled();
      return topology;
    } catch (err) {
      await topology.stop();
      throw err;
    }
  }

  /** REDIS_CLUSTER_NODES for the service (every node; ioredis needs only one that answers). */
  get env() {
    return { REDIS_CLUSTER_NODES: this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',') };
  }

  /** Every redis-server of the topology. */
  get processes() {
    return this.nodes;
  }

  /** Every live node says the cluster is ok, three masters serve every slot, and each live replica is in sync. */
  async settled() {
    await until('the cluster ok', async () => {
      const live = this.nodes.filter((n) => n.alive);
      for (const n of live) if ((await n.info('cluster')).cluster_enabled !== '1' || !String(await n.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
      const table = await this.table();
      const masters = table.filter((row) => row.master && row.connected);
      if (masters.length !== 3) return false;
      for (const row of table.filter((r) => !r.master && r.connected)) {
        const node = live.find((n) => n.port === row.port);
        if (node && (await node.info('replication')).master_link_status !== 'up') return false;
      }
      return true;
    });
  }

  /** The nodes serving slots as masters now. */
  async masters() {
    const table = await this.table();
    return this.nodes.filter((n) => table.some((r) => r.port === n.port && r.master && r.connected && r.slots.length > 0));
  }

  /** The node serving `slot` as master now. */
  async masterOf(slot) {
    const row = (await this.table()).find((r) => r.master && r.connected && r.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!row) throw new Error(`no master for slot ${slot}`);
    return this.nodes.find((n) => n.port === row.port);
  }

  /** SIGKILLs the master of `slot` and waits until its replica is promoted and the cluster is ok again. Answers the new master. */
  async killMasterOf(slot) {
    const old = await this.masterOf(slot);
    await old.kill();
    let next;
    await until('a replica promoted', async () => {
      next = await this.masterOf(slot);
      return next !== old;
    });
    await this.settled();
    return next;
  }

  /** Synchronous teardown for a process 'exit' handler: SIGKILL, directory removed. */
  stopNow() {
    for (const n of this.nodes) n.killNow();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async stop() {
    await Promise.all(this.nodes.map((n) => n.kill()));
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** CLUSTER NODES, as seen by a live node. */
  async table() {
    const text = String(await this.nodes.find((n) => n.alive).call('CLUSTER', 'NODES'));
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const [, address, flags, , , , , link, ...slots] = line.split(' ');
        return {
          port: Number(address.split('@')[0].split(':').pop()),
          master: flags.split(',').includes('master') && !flags.includes('fail'),
          connected: link === 'connected' && !flags.includes('fail'),
          slots: slots
            .filter((s) => !s.startsWith('['))
            .map((s) => s.split('-').map(Number))
            .map(([a, b]) => [a, b ?? a]),
        };
      });
  }
}

function mkdir(root, name) {
  return mkdtempSync(join(root, `${name}-`));
}

/** A flat [k1, v1, k2, v2...] reply as a map. */
function pairs(flat) {
  const out = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}
