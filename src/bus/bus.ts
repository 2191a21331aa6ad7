import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../ops/metrics.js';
import { TopicRouter } from '../topics/topic-router.js';
import { RedisBusServer } from './redis-bus-server.js';

/**
 * The event bus: Redis through the NestJS microservice transport when REDIS_URL is set
 * (every instance receives every event), else embedded in memory (one instance).
 */
@Injectable()
export class Bus {
  private readonly log = new Logger(Bus.name);
  /** Set in Redis mode; main.ts connects it as the app's microservice. */
  readonly server?: RedisBusServer;

  constructor(
    @Inject(CONFIG) config: Config,
    private readonly router: TopicRouter,
    metrics: Metrics,
  ) {
    if (config.redisUrl) {
      this.server = new RedisBusServer(config.redisUrl, {
        maxBytes: config.limits.maxEventBytes,
        maxDepth: config.limits.maxJsonDepth,
        rejected: (channel, problem) => router.reject(channel, problem),
      });
      this.server.on('reconnecting', (type: string) => type === 'sub' && metrics.redisReconnects.inc());
    } else {
      this.log.log('No REDIS_URL: embedded in-memory bus (single instance)');
    }
  }

  get mode(): 'redis' | 'embedded' {
    return this.server ? 'redis' : 'embedded';
  }

  get connected(): boolean {
    return this.server ? this.server.connected : true;
  }

  /** Hands every channel of the router to the Redis server, before it listens. */
  bindRoutes(): void {
    for (const channel of this.router.channels()) {
      this.server?.addHandler(channel, async (data: unknown) => this.router.dispatch(channel, data), true);
    }
  }

  /**
   * Publishes to every instance (Redis) or to this one (embedded). In embedded mode the
   * event is dispatched on a later tick, as it would be coming back from Redis.
   */
  async publish(channel: string, data: unknown): Promise<void> {
    if (this.server) return this.server.publish(channel, data);
    setImmediate(() => this.router.dispatch(channel, data));
  }
}
