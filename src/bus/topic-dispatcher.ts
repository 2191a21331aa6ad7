import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { PayloadProblem } from '../common/json-bounds.js';
import { SchemaError } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../ops/metrics.js';
import { Topic, type Delivery, type TopicHandler } from './topic.js';

/** A payload that fits its channel's schema: its parsed event. */
export interface Checked {
  event: unknown;
}

/**
 * Channel -> the `@Topic` declared for it. Every way in ends here: the Redis bus, the
 * history read-back, `POST /api/publish`, the embedded bus and a resume's replay; so every
 * payload, whatever way it came, is parsed, counted and handled the same way.
 */
@Injectable()
export class TopicDispatcher implements OnModuleInit {
  private readonly log = new Logger(TopicDispatcher.name);
  private readonly routes = new Map<string, TopicHandler>();
  /** `topic reason` pairs already logged: a hostile stream is counted, not logged per event. */
  private readonly logged = new Set<string>();

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly discovery: DiscoveryService,
    private readonly metrics: Metrics,
  ) {}

  /** Before the bus subscribes (app.ts): every declared topic, one per channel. */
  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders({ metadataKey: Topic.KEY })) {
      const { channel: key } = this.discovery.getMetadataByDecorator(Topic, wrapper)!;
      const channel = this.config.channels[key];
      if (this.routes.has(channel)) throw new Error(`two topics declared for channel ${key} (${channel})`);
      this.routes.set(channel, wrapper.instance as TopicHandler);
    }
  }

  channels(): string[] {
    return [...this.routes.keys()];
  }

  /** Parses without handling, for the publish endpoint's 400 answers. */
  validate(channel: string, raw: unknown): void {
    const route = this.routes.get(channel);
    if (!route) throw new SchemaError(`unknown channel "${channel}"`);
    route.parse(raw);
  }

  /**
   * A payload refused before it was parsed (too large, too deep: see json-bounds), counted
   * like a schema failure.
   */
  reject(channel: string, problem: PayloadProblem): void {
    const route = this.routes.get(channel);
    if (route) this.rejected(route, channel, problem, problem.replace('_', ' '));
  }

  /**
   * The payload's event when it fits its channel's schema, else undefined (counted as a
   * rejection): what cannot be delivered is not worth appending to the history. Never throws.
   */
  check(channel: string, raw: unknown): Checked | undefined {
    const route = this.routes.get(channel);
    return route && this.parse(route, channel, raw, true);
  }

  /** Never throws: bad input is counted, and logged (channel and reason, no contents) once per reason. */
  dispatch(channel: string, raw: unknown, delivery: Delivery = {}): void {
    void this.handle(channel, delivery, (route) => this.parse(route, channel, raw, true));
  }

  /** The same for an event `check` already parsed: not parsed again. */
  dispatchChecked(channel: string, checked: Checked, delivery: Delivery = {}): void {
    void this.handle(channel, delivery, () => checked);
  }

  /** The same for one replayed event: settles once its frames (if any) are collected; never rejects. */
  replay(channel: string, raw: unknown, delivery: Delivery): Promise<void> {
    return this.handle(channel, delivery, (route) => this.parse(route, channel, raw, false)); // counted when it was live
  }

  private async handle(channel: string, delivery: Delivery, parse: (route: TopicHandler) => Checked | undefined): Promise<void> {
    const route = this.routes.get(channel);
    if (!route) return;
    const parsed = parse(route);
    if (!parsed) return;
    if (!delivery.replay) this.metrics.busEvents.inc({ topic: route.topic });
    try {
      const pending = route.handle(parsed.event, delivery);
      if (pending) await pending;
    } catch (err) {
      this.log.error({ msg: 'handler failed', channel, err: (err as Error)?.stack });
    }
  }

  private parse(route: TopicHandler, channel: string, raw: unknown, count: boolean): Checked | undefined {
    try {
      return { event: route.parse(raw) };
    } catch (err) {
      if (!count) return undefined;
      if (err instanceof SchemaError) this.rejected(route, channel, 'schema', err.message);
      else this.rejected(route, channel, 'error', String((err as Error)?.message ?? err).slice(0, 200));
      return undefined;
    }
  }

  /** `reason` is one of a fixed set (a metric label); `detail` goes to the log, the first time only. */
  private rejected(route: TopicHandler, channel: string, reason: PayloadProblem | 'schema' | 'error', detail: string): void {
    this.metrics.busRejected.inc({ topic: route.topic, reason });
    const key = `${route.topic} ${reason}`;
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.log.warn({ msg: 'payload rejected (logged once per topic and reason; see switchboard_bus_rejected_total)', channel, reason, detail });
  }
}
