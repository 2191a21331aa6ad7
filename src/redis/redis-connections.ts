import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Cluster, MaxRetriesPerRequestError, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { CONFIG, type Config, type RedisAuth, type RedisTarget } from '../config/config.js';

/** ioredis connection options from a `redis://` or `rediss://` URL. */
export function redisOptions(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: Number(u.pathname.slice(1) || 0),
    tls: u.protocol === 'rediss:' ? {} : undefined,
  };
}

/** What the configuration says: no Redis (everything embedded), one server, Sentinel, or Cluster. */
export type RedisMode = 'none' | RedisTarget['mode'];

/** A command connection: a `Redis` (one server, or the master Sentinel names) or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/** What a caller tunes for its own use; the rest (addresses, credentials, TLS) comes from the configuration. */
export interface ConnectionOptions {
  /** Shown by CLIENT LIST (`switchboard:<name>`), so that an operator sees who holds what. */
  name?: string;
  /** Retries of one command over reconnections (ioredis' default: 20); 0 or 1 to fail fast. */
  maxRetriesPerRequest?: number | null;
  /** A command unanswered this long fails (ms). */
  commandTimeout?: number;
  /** Connect on the first command instead of at once. */
  lazyConnect?: boolean;
  /** Queue commands sent while disconnected (default) or fail them at once. */
  enableOfflineQueue?: boolean;
  /** Commands of one event-loop turn go out in one write (per node in a cluster). */
  enableAutoPipelining?: boolean;
}

/**
 * The one place Redis connections are made, in the mode the configuration gives
 * (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES, with their credentials and TLS).
 * Every part that needs Redis opens its own connection here; each caller tunes retries and
 * timeouts for what it does and handles its errors; whatever is still open at shutdown is
 * closed here, after every module's destroy hook (the chat's presence withdrawal, for one).
 *
 * The API:
 * - `mode`: 'none' | 'standalone' | 'sentinel' | 'cluster'; `enabled` is `mode !== 'none'`.
 * - `commands(options)`: a command connection in any mode (a `Redis`, or a `Cluster` that routes
 *   each command to its slot's master). Chat, presence, limits, revocations, history reads
 *   and writes, and SPUBLISH (routed to the channel's shard) go through these. In a cluster
 *   every multi-key command and script must name keys of one slot: see `hashTag`.
 * - `subscriber(options)`: for classic SUBSCRIBE / PSUBSCRIBE. In a cluster it is a `Cluster`
 *   whose subscriptions sit on one node, chosen by ioredis and replaced (subscriptions
 *   included) when that node goes away; a plain PUBLISH on any node reaches it (the cluster
 *   bus forwards every PUBLISH to every node), so backends that PUBLISH keep working unchanged.
 * - `shardedSubscriber(options)`: for SSUBSCRIBE (Redis >= 7). In a cluster it is a `Cluster`
 *   with ioredis' `shardedSubscribers` on: one extra connection per master, each SSUBSCRIBE
 *   sent to the master of its channel's slot, messages emitted as `smessage` on the Cluster
 *   object. One SSUBSCRIBE call must name channels of one slot (ioredis rejects the call
 *   otherwise: "Possible CROSSSLOT"); subscribe channel by channel. After a failover ioredis
 *   refreshes the slot map, replaces the subscriber of a master that went away and
 *   re-subscribes its channels (test/integration/redis-modes.spec.ts proves it on a real
 *   cluster); messages SPUBLISHed while a shard has no master are lost, as with any pub/sub.
 *   Without a cluster it is a plain connection: SSUBSCRIBE/SPUBLISH work on one Redis 7 too.
 * - `hashTag(name)`: `{name}` in cluster mode, else `name` unchanged. Keys that one script or
 *   MULTI touches together are built from one tagged name (`<prefix>room:{<uuid>}`,
 *   `<prefix>messages:{<uuid>}`...); outside a cluster key names stay what they were, so an
 *   upgrade of a single Redis or Sentinel deployment finds its data.
 */
@Injectable()
export class RedisConnections implements OnApplicationShutdown {
  private readonly opened = new Set<RedisClient>();
  private readonly target?: RedisTarget;

  constructor(@Inject(CONFIG) config: Config) {
    this.target = config.redis;
  }

  get mode(): RedisMode {
    return this.target?.mode ?? 'none';
  }

  /** True when Redis is configured; else every part runs embedded, in memory. */
  get enabled(): boolean {
    return this.target !== undefined;
  }

  /** A command connection (see the class comment); throws in embedded mode (check `enabled`). */
  commands(options: ConnectionOptions = {}): RedisClient {
    return this.track(this.connect(options, 'commands'));
  }

  /** A connection for SUBSCRIBE / PSUBSCRIBE. */
  subscriber(options: ConnectionOptions = {}): RedisClient {
    return this.track(this.connect(options, 'subscriber'));
  }

  /** A connection for SSUBSCRIBE: per shard in a cluster. */
  shardedSubscriber(options: ConnectionOptions = {}): RedisClient {
    return this.track(this.connect(options, 'sharded-subscriber', true));
  }

  /** `{name}` in cluster mode: every key built from it hashes to one slot. Else `name`. */
  hashTag(name: string): string {
    return this.mode === 'cluster' ? `{${name}}` : name;
  }

  /** ioredis options of the server (REDIS_URL) or of the Sentinel-managed master; throws in cluster mode. */
  private nodeOptions(): RedisOptions {
    const target = this.target;
    if (!target) throw new Error('no Redis configured');
    if (target.mode === 'standalone') return redisOptions(target.url);
    if (target.mode === 'sentinel') {
      return {
        sentinels: target.sentinels,
        name: target.name,
        db: target.db,
        ...auth(target.node),
        // ioredis uses `tls` for the master only with this flag; the sentinels have their own.
        enableTLSForSentinelMode: target.node.tls,
        sentinelUsername: target.sentinel.username,
        sentinelPassword: target.sentinel.password,
        sentinelTLS: target.sentinel.tls ? {} : undefined,
      };
    }
    throw new Error('a Redis Cluster has no single node: use commands(), subscriber() or shardedSubscriber()');
  }

  /** Shutdown must not fail because Redis is gone: QUIT what answers, drop the rest. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.opened].map((redis) => (redis.status === 'ready' ? redis.quit().catch(() => redis.disconnect()) : redis.disconnect())));
  }

  private connect({ name, ...options }: ConnectionOptions, role: string, sharded = false): RedisClient {
    const target = this.target;
    if (!target) throw new Error('no Redis configured');
    const connectionName = `switchboard:${name ?? role}`;
    if (target.mode !== 'cluster') return new Redis({ ...this.nodeOptions(), connectionName, retryStrategy: reconnectDelay, ...options });
    const { lazyConnect, enableOfflineQueue, enableAutoPipelining, ...perNode } = options;
    const clusterOptions: ClusterOptions = {
      lazyConnect,
      enableOfflineQueue,
      enableAutoPipelining,
      shardedSubscribers: sharded,
      redisOptions: { ...auth(target.node), connectionName, ...perNode },
      // With TLS, keep the names the nodes announce: certificates name hosts, not addresses.
      ...(target.node.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
    };
    return new Cluster(target.nodes, clusterOptions);
  }

  private track<T extends RedisClient>(client: T): T {
    this.opened.add(client);
    client.once('end', () => this.opened.delete(client));
    return client;
  }
}

/**
 * Whether `err` says Redis could not be reached or cannot serve now (an outage, a failover
 * under way), rather than that a command is wrong: what a client may simply try again.
 */
export function redisUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof MaxRetriesPerRequestError || err.name === 'ClusterAllFailedError') return true;
  if (/^(Connection is closed|Command timed out|Stream isn't writeable|None of startup nodes is available)/.test(err.message)) return true;
  // Replies of a server that is not (yet) the master, loading, or of a cluster without a master for the slot.
  if (/^(READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN) /.test(err.message)) return true;
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EPIPE';
}

/**
 * Reconnection delays of a connection to one server or to a Sentinel master: ioredis doubles
 * them up to 5 s, so after a 4 s failover one connection came back seconds after another (the
 * bus delivering while chat posts still failed). Capped at half a second, every connection is
 * back within about that of the new master; the jitter spreads an instance's connections.
 */
export const reconnectDelay = (times: number): number => Math.min(50 * 2 ** (times - 1), 500) + Math.floor(Math.random() * 100);

function auth({ username, password, tls }: RedisAuth): Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  return { username, password, tls: tls ? {} : undefined };
}
