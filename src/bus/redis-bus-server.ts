import { ServerRedis } from '@nestjs/microservices';
import { redisOptions } from '../redis/redis-connections.js';
import { EnvelopeDeserializer, encodePayload } from './envelope.js';

/** Receives every message of the subscribed channels, raw, before anything parses it. */
export type BusSink = (channel: string, raw: string) => void;

/**
 * The Nest Redis transport, used for its connections and subscriptions only: every message
 * goes to the sink as it came (the ingress checks, parses and routes it), not through Nest's
 * handler pipeline (README, Development: why). Made to survive a Redis that is down at
 * start-up: the stock server subscribes only after the first connection succeeds, so an
 * instance started before its Redis would stay deaf for ever. Here the SUBSCRIBEs are
 * queued at once (ioredis sends them on connect and again after every reconnect) and
 * reconnection never gives up.
 */
export class RedisBusServer extends ServerRedis {
  constructor(
    url: string,
    private readonly sink: BusSink,
    retryDelayMs = 1000,
  ) {
    super({
      ...redisOptions(url),
      retryAttempts: Number.MAX_SAFE_INTEGER,
      retryDelay: retryDelayMs,
      deserializer: new EnvelopeDeserializer(),
    });
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

  async publish(channel: string, data: unknown): Promise<void> {
    if (!this.connected) throw new Error('bus not connected');
    await this.pubClient.publish(channel, encodePayload(channel, data));
  }
}
