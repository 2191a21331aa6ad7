import { Injectable, Logger } from '@nestjs/common';
import type { PayloadProblem } from '../common/json-bounds.js';
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
  /** `topic reason` pairs already logged: a hostile stream is counted, not logged per event. */
  private readonly logged = new Set<string>();

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

  /**
   * A payload refused before it was parsed (too large, too deep: see json-bounds), counted
   * like a schema failure.
   */
  reject(channel: string, problem: PayloadProblem): void {
    const route = this.routes.get(channel);
    if (route) this.rejected(route, channel, problem, problem.replace('_', ' '));
  }

  /** Never throws: bad input is counted, and logged (channel and reason, no contents) once per reason. */
  dispatch(channel: string, raw: unknown): void {
    const route = this.routes.get(channel);
    if (!route) return;
    let event: unknown;
    try {
      event = route.parse(raw);
    } catch (err) {
      if (err instanceof SchemaError) this.rejected(route, channel, 'schema', err.message);
      else this.rejected(route, channel, 'error', String((err as Error)?.message ?? err).slice(0, 200));
      return;
    }
    this.metrics.busEvents.inc({ topic: route.topic });
    try {
      route.handle(event);
    } catch (err) {
      this.log.error({ msg: 'handler failed', channel, err: (err as Error)?.stack });
    }
  }

  /** `reason` is one of a fixed set (a metric label); `detail` goes to the log, the first time only. */
  private rejected(route: Route, channel: string, reason: PayloadProblem | 'schema' | 'error', detail: string): void {
    this.metrics.busRejected.inc({ topic: route.topic, reason });
    const key = `${route.topic} ${reason}`;
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.log.warn({ msg: 'payload rejected (logged once per topic and reason; see switchboard_bus_rejected_total)', channel, reason, detail });
  }
}
