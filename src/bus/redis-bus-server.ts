import { ServerRedis } from '@nestjs/microservices';
import type { Redis } from 'ioredis';
import type { RedisClient } from '../redis/redis-connections.js';
import { EnvelopeDeserializer, encodePayload } from './envelope.js';

/** Receives every message of the subscribed channels, raw, before anything parses it. */
export type BusSink = (channel: string, raw: string) => void;

/** The bus's two connections, made by the connection factory in the configured mode (one server, Sentinel, Cluster). */
export interface BusClients {
  subscriber(): RedisClient;
  publisher(): RedisClient;
}

/**
 * The Nest Redis transport, used for its connections and subscriptions only: every message
 * goes to the sink as it came (the ingress checks, parses and routes it), not through Nest's
 * handler pipeline (README, Development: why). Its connections come from the service's
 * connection factory (Nest's own would know one server only). Made to survive a Redis that is
 * down at start-up: the stock server subscribes only after the first connection succeeds, so
 * an instance started before its Redis would stay deaf for ever. Here the SUBSCRIBEs are
 * queued at once (ioredis sends them on connect and again after every reconnect) and
 * reconnection never gives up.
 */
export class RedisBusServer extends ServerRedis {
  constructor(
    private readonly clients: BusClients,
    private readonly sink: BusSink,
  ) {
    super({ deserializer: new EnvelopeDeserializer() });
  }

  /** Nest's listen() asks for the subscriber first, then for the publisher. */
  async createRedisClient(): Promise<Redis> {
    return (this.subClient ? this.clients.publisher() : this.clients.subscriber()) as Redis;
  }

  /** Subscribes `channel` (Nest subscribes every channel that has a handler); messages go to the sink. */
  subscribe(channel: string): void {
    this.addHandler(channel, async () => undefined, true);
  }

  async handleMessage(channel: string, buffer: string): Promise<void> {
    this.sink(channel, String(buffer));
  }

  start(callback?: () => void): void {
    for (const client of [this.subClient, this.pubClient]) {
      client.connect().catch((err: Error) => this.logger.warn(`Redis not reachable yet (${err.message}); retrying`));
    }
    this.bindEvents(this.subClient, this.pubClient);
    callback?.();
  }

  /** Shutdown must not fail because Redis is gone: QUIT what answers, drop the rest. */
  async close(): Promise<void> {
    this.isManuallyClosed = true;
    for (const client of [this.pubClient, this.subClient]) {
      if (client?.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client?.disconnect();
    }
  }

  /** True while both connections are up, i.e. while events can arrive and leave. */
  get connected(): boolean {
    return this.subClient?.status === 'ready' && this.pubClient?.status === 'ready';
  }

  /** Publishes as a NestJS client would (`emit`): an envelope naming the channel; SPUBLISH on a cluster's shard. */
  async publish(channel: string, data: unknown, sharded = false): Promise<void> {
    if (!this.connected) throw new Error('bus not connected');
    const payload = encodePayload(channel, data);
    await (sharded ? this.pubClient.spublish(channel, payload) : this.pubClient.publish(channel, payload));
  }
}
