import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { payloadProblem } from '../common/json-bounds.js';
import { CONFIG, type Config } from '../config/config.js';
import { MemoryHistory, RedisHistory, type History, type HistoryEntry } from '../history/history.js';
import { formatOffset } from '../history/offset.js';
import { Metrics } from '../ops/metrics.js';
import { RedisConnections } from '../redis/redis-connections.js';
import { EnvelopeDeserializer, RedisBusServer } from './redis-bus-server.js';
import { TopicDispatcher, type Checked } from './topic-dispatcher.js';

/** Bounds of the events kept parsed between their receipt and their read-back (a few ticks, usually). */
const CHECKED_MAX = 1000;
const CHECKED_MAX_BYTES = 8 * 1024 * 1024;

/**
 * The event bus: Redis through the NestJS microservice transport when REDIS_URL is set
 * (every instance receives every event), else embedded in memory (one instance).
 * Events for `/ws` sessions go through the shared history (history.ts) and are delivered
 * from it with their offset; chat keeps its own path (plain pub/sub) and its own history.
 */
@Injectable()
export class Bus implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger(Bus.name);
  /** Set in Redis mode; main.ts connects it as the app's microservice. */
  readonly server?: RedisBusServer;
  readonly history: History;
  /** The channels whose events go through the history: every `/ws` topic, not chat. */
  private readonly historyChannels: Set<string>;
  private readonly envelope = new EnvelopeDeserializer();
  /**
   * Events checked on receipt (pub/sub), by payload, until they are read back from the
   * history: each is parsed once. Bounded: a message that never comes back is forgotten.
   */
  private readonly checkedOnReceipt = new Map<string, { channel: string; checked: Checked }>();
  private checkedBytes = 0;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly dispatcher: TopicDispatcher,
    metrics: Metrics,
    connections: RedisConnections,
  ) {
    const { chat: _chat, ...events } = config.channels;
    this.historyChannels = new Set(Object.values(events));
    if (config.redisUrl) {
      this.history = new RedisHistory((options) => connections.open(options), config.history, () => this.connected);
      this.server = new RedisBusServer(config.redisUrl, {
        maxBytes: config.limits.maxEventBytes,
        maxDepth: config.limits.maxJsonDepth,
        rejected: (channel, problem) => dispatcher.reject(channel, problem),
        ingest: (channel, raw) => {
          if (!this.historyChannels.has(channel)) {
            // Chat (not in the history) after the history events received before it: an idm
            // event that takes a user or a workspace away acts before a later chat message.
            this.history.afterIngested(() => dispatcher.dispatch(channel, this.decode({ channel, raw })));
            return true;
          }
          // Every instance checks what it receives, as it did before the history: garbage
          // is counted here and costs no append, no read-back (a flood of it must not slow
          // the subscriber down until Redis drops it for its output buffer).
          const checked = dispatcher.check(channel, this.decode({ channel, raw }));
          if (!checked) return true;
          this.remember(channel, raw, checked);
          this.history.ingest(channel, raw);
          return true;
        },
      });
      this.server.on('reconnecting', (type: string) => type === 'sub' && metrics.redisReconnects.inc());
    } else {
      this.history = new MemoryHistory(config.history);
      this.log.log('No REDIS_URL: embedded in-memory bus and history (single instance)');
    }
  }

  /** Before the app listens: events appended once it serves are delivered (unless Redis is down). */
  async onApplicationBootstrap(): Promise<void> {
    await this.history.start((entry, epoch) => this.deliver(entry, epoch));
  }

  async onModuleDestroy(): Promise<void> {
    await this.history.close();
  }

  get mode(): 'redis' | 'embedded' {
    return this.server ? 'redis' : 'embedded';
  }

  get connected(): boolean {
    return this.server ? this.server.connected : true;
  }

  /** Ready: events can arrive and the history can be read. */
  get ready(): boolean {
    return this.connected && this.history.readable;
  }

  /** Hands every declared channel to the Redis server, before it listens. */
  bindRoutes(): void {
    for (const channel of this.dispatcher.channels()) {
      this.server?.addHandler(channel, async (data: unknown) => this.dispatcher.dispatch(channel, data), true);
    }
  }

  /**
   * Publishes to every instance: `/ws` events are appended to the history (exactly once, no
   * pub/sub window), chat events go out on pub/sub (Redis) or to this instance (embedded,
   * on a later tick, as they would come back from Redis). Both as a NestJS envelope.
   */
  async publish(channel: string, data: unknown): Promise<void> {
    if (this.historyChannels.has(channel)) return this.history.append(channel, JSON.stringify({ pattern: channel, data }));
    if (this.server) return this.server.publish(channel, data);
    setImmediate(() => this.dispatcher.dispatch(channel, data));
  }

  /** One history entry, read back with the same bounds and envelope rules as a pub/sub message. */
  private deliver(entry: HistoryEntry, epoch: string): void {
    const { channel, raw } = entry;
    if (!this.historyChannels.has(channel)) return;
    const offset = { id: entry.id, text: formatOffset(entry.id, epoch) };
    const checked = this.take(channel, raw);
    if (checked) return this.dispatcher.dispatchChecked(channel, checked, { offset });
    const problem = payloadProblem(raw, { maxBytes: this.config.limits.maxEventBytes, maxDepth: this.config.limits.maxJsonDepth });
    if (problem) return this.dispatcher.reject(channel, problem);
    this.dispatcher.dispatch(channel, this.decode(entry), { offset });
  }

  private remember(channel: string, raw: string, checked: Checked): void {
    if (this.checkedOnReceipt.has(raw)) return; // the same payload twice in flight: the second is parsed again
    this.checkedOnReceipt.set(raw, { channel, checked });
    this.checkedBytes += raw.length;
    for (const key of this.checkedOnReceipt.keys()) {
      if (this.checkedOnReceipt.size <= CHECKED_MAX && this.checkedBytes <= CHECKED_MAX_BYTES) break;
      this.forget(key);
    }
  }

  /** The event parsed on receipt, used once. */
  private take(channel: string, raw: string): Checked | undefined {
    const hit = this.checkedOnReceipt.get(raw);
    if (!hit) return undefined;
    this.forget(raw);
    return hit.channel === channel ? hit.checked : undefined;
  }

  private forget(raw: string): void {
    if (this.checkedOnReceipt.delete(raw)) this.checkedBytes -= raw.length;
  }

  /** The event of an entry: Nest's parsing (JSON, else the text as is), then the envelope rule. */
  decode({ channel, raw }: { channel: string; raw: string }): unknown {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    return this.envelope.deserialize(value, { channel }).data;
  }
}
