import { ServerRedis, type Deserializer, type IncomingEvent } from '@nestjs/microservices';
import { payloadProblem, type PayloadProblem } from '../common/json-bounds.js';
import { isRecord } from '../common/schema.js';
import { redisOptions } from '../redis/redis-connections.js';

export interface BusPayloadLimits {
  maxBytes: number;
  maxDepth: number;
  /** Told of every payload refused before parsing. */
  rejected(channel: string, problem: PayloadProblem): void;
  /** Takes a message that goes to the history instead of straight to its handler; true when taken. */
  ingest?(channel: string, raw: string): boolean;
}

/**
 * A payload is a NestJS envelope only when it says so for this very channel
 * (`{"pattern":"<this channel>","data":...}`); anything else is the bare event as sent by
 * `redis-cli PUBLISH`. Nest's default deserializer takes any object with a top-level `data`
 * or `pattern` key for an envelope, which would mangle such bare events. Every payload is
 * an event (no `id`): the bus never answers.
 */
export class EnvelopeDeserializer implements Deserializer<unknown, IncomingEvent> {
  deserialize(value: unknown, options?: { channel?: string }): IncomingEvent {
    const channel = options?.channel ?? '';
    if (isRecord(value) && value.pattern === channel && 'data' in value) return { pattern: channel, data: value.data };
    return { pattern: channel, data: value };
  }
}

/**
 * The Nest Redis transport, made to survive a Redis that is down at start-up: the stock
 * server subscribes only after the first connection succeeds, so an instance started
 * before its Redis would stay deaf for ever. Here the SUBSCRIBEs are queued at once
 * (ioredis sends them on connect and again after every reconnect) and reconnection never
 * gives up.
 */
export class RedisBusServer extends ServerRedis {
  constructor(
    url: string,
    private readonly limits: BusPayloadLimits,
    retryDelayMs = 1000,
  ) {
    super({
      ...redisOptions(url),
      retryAttempts: Number.MAX_SAFE_INTEGER,
      retryDelay: retryDelayMs,
      deserializer: new EnvelopeDeserializer(),
    });
  }

  /** Every message from Redis, before it is parsed: too large or too deep, it goes no further. */
  async handleMessage(channel: string, buffer: string, pub: unknown, pattern: string): Promise<void> {
    const problem = payloadProblem(buffer, this.limits);
    if (problem) return this.limits.rejected(channel, problem);
    if (this.limits.ingest?.(channel, String(buffer))) return;
    return super.handleMessage(channel, buffer, pub as never, pattern);
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

  /** True while the subscriber connection is up, i.e. while events can arrive. */
  get connected(): boolean {
    return this.subClient?.status === 'ready' && this.pubClient?.status === 'ready';
  }

  /** Publishes as a NestJS client would (`emit`): an envelope naming the channel. */
  async publish(channel: string, data: unknown): Promise<void> {
    if (!this.connected) throw new Error('bus not connected');
    await this.pubClient.publish(channel, JSON.stringify({ pattern: channel, data }));
  }
}
