/**
 * The same integration tests against a single Redis and a Redis Cluster: each mode gives the
 * service's environment for it, connection factories as the service makes them, and what a
 * test does to every node at once (flush, cut the clients off).
 */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/config/config.js';
import { RedisConnections } from '../../src/redis/redis-connections.js';
import { PrivateRedis } from './private-redis.js';
import { ClusterTopology, redisCall } from './redis-topology.js';

export interface RedisUnderTest {
  readonly name: 'single' | 'cluster';
  /** REDIS_URL or REDIS_CLUSTER_NODES. */
  readonly env: Record<string, string>;
  /** A factory as the service builds one from `env` plus `extra` (closed by `stop`). */
  connections(extra?: Record<string, string>): RedisConnections;
  /** A command on every master (FLUSHALL, CLIENT KILL...). */
  onEveryMaster(...args: (string | number)[]): Promise<void>;
  stop(): Promise<void>;
}

export type ModeName = RedisUnderTest['name'];
export const MODES: ModeName[] = ['single', 'cluster'];

/** Starts a private single Redis, or a 3+3 cluster. */
export async function startRedis(name: ModeName): Promise<RedisUnderTest> {
  const factories: RedisConnections[] = [];
  const make = (env: Record<string, string>) => (extra: Record<string, string> = {}) => {
    const c = new RedisConnections(loadConfig({ ...env, ...extra }));
    factories.push(c);
    return c;
  };
  const close = () => Promise.all(factories.map((c) => c.onApplicationShutdown()));
  if (name === 'single') {
    const redis = await PrivateRedis.create();
    await redis.start();
    const env = { REDIS_URL: redis.url };
    return {
      name,
      env,
      connections: make(env),
      onEveryMaster: async (...args) => void (await redisCall(redis.port, ...args)),
      stop: async () => {
        await close();
        await redis.destroy();
      },
    };
  }
  const cluster = await ClusterTopology.start();
  return {
    name,
    env: cluster.env,
    connections: make(cluster.env),
    onEveryMaster: async (...args) => {
      for (const slot of [0, 8192, 16383]) await (await cluster.masterOf(slot)).call(...args);
    },
    stop: async () => {
      await close();
      await cluster.stop();
    },
  };
}

/** A name unique to this run, for keys and logins. */
export const unique = (what: string) => `${what}-${randomUUID().slice(0, 8)}`;
