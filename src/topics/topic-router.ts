import { Injectable, Logger } from '@nestjs/common';
import { SchemaError } from '../common/schema.js';
import { Metrics } from '../ops/metrics.js';

/** One bus topic: how to read its payload and what to do with it. */
export interface Route<T = unknown> {
  /** Short label for logs and metrics (`tree`, `idm`, `push`...). */
  topic: string;
  /** Throws SchemaError when the payload does not fit. */
  parse(raw: unknown): T;
  handle(event: T): void;
}

/**
 * Channel -> route. The bus (Redis or embedded) and `POST /api/publish` both end here,
 * so every payload, whatever way it came, is parsed, counted and handled the same way.
 */
@Injectable()
export class TopicRouter {
  private readonly log = new Logger(TopicRouter.name);
  private readonly routes = new Map<string, Route>();

  constructor(private readonly metrics: Metrics) {}

  register<T>(channel: string, route: Route<T>): void {
    this.routes.set(channel, route as Route);
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

  /** Never throws: bad input is logged (channel and reason, no contents) and counted. */
  dispatch(channel: string, raw: unknown): void {
    const route = this.routes.get(channel);
    if (!route) return;
    let event: unknown;
    try {
      event = route.parse(raw);
    } catch (err) {
      const reason = err instanceof SchemaError ? err.message : 'parse failed';
      this.metrics.busRejected.inc({ topic: route.topic, reason: err instanceof SchemaError ? 'schema' : 'error' });
      this.log.warn({ msg: 'payload rejected', channel, reason });
      return;
    }
    this.metrics.busEvents.inc({ topic: route.topic });
    try {
      route.handle(event);
    } catch (err) {
      this.log.error({ msg: 'handler failed', channel, err: (err as Error).stack });
    }
  }
}
