import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../metrics/metrics.js';
import { encodePayload } from './envelope.js';
import { RedisBusServer, type BusSink } from './redis-bus-server.js';

/**
 * The transport, and nothing else: Redis pub/sub through the NestJS microservice transport
 * when REDIS_URL is set (every instance receives every message), else an embedded loop in
 * memory (one instance). It hands raw messages of the channels it is told to listen to to one
 * sink, and publishes; what a message means is the ingress's business (src/delivery).
 */
@Injectable()
export class Bus {
  private readonly log = new Logger(Bus.name);
  /** Set in Redis mode; app.ts connects it as the app's microservice. */
  readonly server?: RedisBusServer;
  private sink?: BusSink;

  constructor(@Inject(CONFIG) config: Config, metrics: Metrics) {
    if (config.redisUrl) {
      this.server = new RedisBusServer(config.redisUrl, (channel, raw) => this.sink?.(channel, raw));
      this.server.on('reconnecting', (type: string) => type === 'sub' && metrics.redisReconnects.inc());
    } else {
      this.log.log('No REDIS_URL: embedded in-memory bus and history (single instance)');
    }
  }

  get mode(): 'redis' | 'embedded' {
    return this.server ? 'redis' : 'embedded';
  }

  get connected(): boolean {
    return this.server ? this.server.connected : true;
  }

  /** Every message of `channels` goes to `sink`, raw; before the app listens (app.ts starts the transport after init). */
  listen(channels: readonly string[], sink: BusSink): void {
    this.sink = sink;
    for (const channel of channels) this.server?.subscribe(channel);
  }

  /** To every instance (Redis), or to this one on a later tick as it would come back from Redis (embedded). */
  async publish(channel: string, data: unknown): Promise<void> {
    if (this.server) return this.server.publish(channel, data);
    const raw = encodePayload(channel, data);
    setImmediate(() => this.sink?.(channel, raw));
  }
}
