import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { decodePayload } from '../bus/envelope.js';
import { payloadProblem, type PayloadProblem } from '../common/json-bounds.js';
import { SchemaError } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../metrics/metrics.js';
import { Topic, type TopicHandler } from './topic.js';

/** Payloads checked on receipt kept parsed until they come back from the history (a few ticks, usually). */
const CHECKED_MAX = 1000;
const CHECKED_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Channel -> the `@Topic` declared for it, found at start-up; and the one place payloads are
 * parsed and refusals counted (logged once per topic and reason), whatever way they came:
 * pub/sub, the history, `POST /api/publish`, a replay.
 */
@Injectable()
export class TopicRegistry implements OnModuleInit {
  private readonly log = new Logger(TopicRegistry.name);
  private readonly routes = new Map<string, TopicHandler>();
  private readonly logged = new Set<string>();
  /**
   * Events parsed on receipt (pub/sub), by payload, until they are delivered from the history:
   * each is parsed once. Bounded: a message that never comes back is forgotten.
   */
  private readonly checked = new Map<string, { channel: string; event: unknown }>();
  private checkedBytes = 0;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly discovery: DiscoveryService,
    private readonly metrics: Metrics,
  ) {}

  /** Before the bus listens (app.ts): every declared topic, one per channel. */
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

  get(channel: string): TopicHandler | undefined {
    return this.routes.get(channel);
  }

  /** Whether the channel's events reach `/ws` sessions, and so go through the history. */
  inHistory(channel: string): boolean {
    const route = this.routes.get(channel);
    return route !== undefined && (route.endpoint ?? 'events') === 'events';
  }

  /** Parses without handling, for the publish endpoint's 400 answers. */
  validate(channel: string, data: unknown): void {
    const route = this.routes.get(channel);
    if (!route) throw new SchemaError(`unknown channel "${channel}"`);
    route.parse(data);
  }

  /** A payload refused before it was parsed (too large, too deep: see json-bounds), counted like a schema failure. */
  reject(channel: string, problem: PayloadProblem): void {
    const route = this.routes.get(channel);
    if (route) this.rejected(route, channel, problem, problem.replace('_', ' '));
  }

  /**
   * Whether a payload received on pub/sub fits its channel's schema (else counted): what
   * cannot be delivered is not worth appending to the history. Its event is kept for `take`.
   */
  check(channel: string, raw: string): boolean {
    const event = this.parse(channel, raw);
    if (event === undefined) return false;
    if (!this.checked.has(raw)) {
      this.checked.set(raw, { channel, event: event.value });
      this.checkedBytes += raw.length;
      for (const key of this.checked.keys()) {
        if (this.checked.size <= CHECKED_MAX && this.checkedBytes <= CHECKED_MAX_BYTES) break;
        this.forget(key);
      }
    }
    return true;
  }

  /**
   * The event of a history entry: the one `check` kept (used once), else checked against the
   * bounds and parsed now (an entry appended by XADD was never checked). `count`: a refusal is
   * counted (false for a replay: it was counted when the entry was delivered live).
   */
  take(channel: string, raw: string, count = true): { value: unknown } | undefined {
    const hit = this.checked.get(raw);
    if (hit) {
      this.forget(raw);
      if (hit.channel === channel) return { value: hit.event };
    }
    const { maxEventBytes: maxBytes, maxJsonDepth: maxDepth } = this.config.limits;
    const problem = payloadProblem(raw, { maxBytes, maxDepth });
    if (problem) return void (count && this.reject(channel, problem));
    return this.parse(channel, raw, count);
  }

  /** Never throws: bad input is counted, and logged (channel and reason, no contents) once per reason. */
  parse(channel: string, raw: string, count = true): { value: unknown } | undefined {
    const route = this.routes.get(channel);
    if (!route) return undefined;
    try {
      return { value: route.parse(decodePayload(channel, raw)) };
    } catch (err) {
      if (!count) return undefined;
      if (err instanceof SchemaError) this.rejected(route, channel, 'schema', err.message);
      else this.rejected(route, channel, 'error', String((err as Error)?.message ?? err).slice(0, 200));
      return undefined;
    }
  }

  private forget(raw: string): void {
    if (this.checked.delete(raw)) this.checkedBytes -= raw.length;
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
