import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { Bus } from '../bus/bus.js';
import { encodePayload } from '../bus/envelope.js';
import { payloadProblem } from '../common/json-bounds.js';
import { CONFIG, type Config } from '../config/config.js';
import { HISTORY, type History } from '../history/history.js';
import { DeliveryService } from './delivery.service.js';
import { TopicRegistry } from './topic-registry.js';

/**
 * Where events come in. From the bus: a payload too large or too deep goes no further; one of
 * a `/ws` topic is checked against its schema (garbage costs no append) and handed to the
 * history, which delivers it with its offset once appended; the history's own announcements
 * go to the history; anything else (chat) is delivered at once, but after the history events
 * received before it. From `POST /api/publish`: appended to the history, or published.
 */
@Injectable()
export class Ingress implements OnApplicationBootstrap {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly bus: Bus,
    @Inject(HISTORY) private readonly history: History,
    private readonly topics: TopicRegistry,
    private readonly delivery: DeliveryService,
  ) {}

  /** After the topics are known, before the app listens and the bus subscribes (app.ts). */
  async onApplicationBootstrap(): Promise<void> {
    const feed = this.history.feedChannel;
    this.bus.listen(feed ? [...this.topics.channels(), feed] : this.topics.channels(), (channel, raw) => this.received(channel, raw));
    await this.history.start((entry, epoch) => this.delivery.live(entry, epoch));
  }

  /** Every message from the bus, raw. Never throws. */
  received(channel: string, raw: string): void {
    if (channel === this.history.feedChannel) return this.history.feed(raw);
    const { maxEventBytes: maxBytes, maxJsonDepth: maxDepth } = this.config.limits;
    const problem = payloadProblem(raw, { maxBytes, maxDepth });
    if (problem) return this.topics.reject(channel, problem);
    if (this.topics.inHistory(channel)) {
      if (this.topics.check(channel, raw)) this.history.ingest(channel, raw);
      return;
    }
    const parsed = this.topics.parse(channel, raw);
    // An idm event that takes a user or a workspace away acts before a later chat message.
    if (parsed) this.history.afterIngested(() => this.delivery.direct(channel, parsed.value));
  }

  /** `POST /api/publish`, already validated: to every instance, exactly once. Rejects while Redis is down. */
  async publish(channel: string, data: unknown): Promise<void> {
    if (this.topics.inHistory(channel)) return this.history.append(channel, encodePayload(channel, data));
    return this.bus.publish(channel, data);
  }
}
