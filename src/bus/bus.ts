import { Injectable, Logger } from '@nestjs/common';
import { Metrics } from '../metrics/metrics.js';
import { RedisConnections, type RedisClient } from '../redis/redis-connections.js';
import { encodePayload } from './envelope.js';
import { RedisBusServer, type BusSink } from './redis-bus-server.js';

/**
 * The transport, and nothing else: Redis pub/sub through the NestJS microservice transport
 * when Redis is configured (every instance receives every message), else an embedded loop in
 * memory (one instance). It hands raw messages of the channels it is told to listen to to one
 * sink, and publishes; what a message means is the ingress's business (src/delivery).
 *
 * On a Redis Cluster every channel is also subscribed as a shard channel (SSUBSCRIBE): a
 * backend's plain PUBLISH keeps working, one that SPUBLISHes spreads the pub/sub load over the
 * shards, and what the service publishes itself goes out with SPUBLISH.
 */
@Injectable()
export class Bus {
  private readonly log = new Logger(Bus.name);
  /** Set when Redis is configured; app.ts connects it as the app's microservice. */
  readonly server?: RedisBusServer;
  /** Cluster only: the shard-channel subscriber (one connection per master). */
  private readonly sharded?: RedisClient;
  private sink?: BusSink;

  constructor(connections: RedisConnections, metrics: Metrics) {
    if (!connections.enabled) {
      this.log.log('No Redis configured: embedded in-memory bus and history (single instance)');
      return;
    }
    const deliver: BusSink = (channel, raw) => this.sink?.(channel, raw);
    this.server = new RedisBusServer(
      { subscriber: () => connections.subscriber({ name: 'bus-sub', lazyConnect: true }), publisher: () => connections.commands({ name: 'bus-pub', lazyConnect: true }) },
      deliver,
    );
    this.server.on('reconnecting', (type: string) => type === 'sub' && metrics.redisReconnects.inc());
    if (connections.mode === 'cluster') {
      this.sharded = connections.shardedSubscriber({ name: 'bus-ssub' });
      this.sharded.on('smessage', (channel: string, message: string) => deliver(channel, message));
      this.sharded.on('error', () => undefined); // the Cluster reconnects by itself; readiness says so
    }
  }

  get mode(): 'redis' | 'embedded' {
    return this.server ? 'redis' : 'embedded';
  }

  get connected(): boolean {
    if (!this.server) return true;
    return this.server.connected && (!this.sharded || this.sharded.status === 'ready');
  }

  /** Every message of `channels` goes to `sink`, raw; before the app listens (app.ts starts the transport after init). */
  listen(channels: readonly string[], sink: BusSink): void {
    this.sink = sink;
    for (const channel of channels) {
      this.server?.subscribe(channel);
      // One channel a call: ioredis refuses shard channels of several slots at once.
      this.sharded?.ssubscribe(channel).catch((err: Error) => this.log.warn(`SSUBSCRIBE ${channel} failed (${err.message}); retried by ioredis on reconnect`));
    }
  }

  /** To every instance (Redis), or to this one on a later tick as it would come back from Redis (embedded). */
  async publish(channel: string, data: unknown): Promise<void> {
    if (this.server) return this.server.publish(channel, data, this.sharded !== undefined);
    const raw = encodePayload(channel, data);
    setImmediate(() => this.sink?.(channel, raw));
  }
}
