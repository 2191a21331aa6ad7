import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { CONFIG, type Config } from '../config/config.js';

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

/**
 * The one place Redis connections are made (REDIS_URL), for every part that needs its own:
 * a blocking reader, a store with its own timeouts... Each caller tunes retries and timeouts
 * for what it does and handles its errors; whatever is still open at shutdown is closed here,
 * after every module's destroy hook (the chat's presence withdrawal, for one) has run.
 * The bus's pub/sub pair belongs to the Nest transport, which makes its own.
 */
@Injectable()
export class RedisConnections implements OnApplicationShutdown {
  private readonly opened = new Set<Redis>();

  constructor(@Inject(CONFIG) private readonly config: Config) {}

  /** True with REDIS_URL; else every part runs embedded, in memory. */
  get enabled(): boolean {
    return this.config.redisUrl !== undefined;
  }

  /** A new connection; throws in embedded mode (check `enabled`). */
  open(options: RedisOptions = {}): Redis {
    if (!this.config.redisUrl) throw new Error('no REDIS_URL');
    const redis = new Redis({ ...redisOptions(this.config.redisUrl), ...options });
    this.opened.add(redis);
    redis.once('end', () => this.opened.delete(redis));
    return redis;
  }

  /** Shutdown must not fail because Redis is gone: QUIT what answers, drop the rest. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.opened].map((redis) => (redis.status === 'ready' ? redis.quit().catch(() => redis.disconnect()) : redis.disconnect())));
  }
}
