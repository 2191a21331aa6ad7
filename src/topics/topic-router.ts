import { Injectable, Logger } from '@nestjs/common';
import type { PayloadProblem } from '../common/json-bounds.js';
import { SchemaError } from '../common/schema.js';
import type { StreamId } from '../history/offset.js';
import { Metrics } from '../ops/metrics.js';
import type { Session } from '../sessions/session.js';
import type { SessionRegistry } from '../sessions/session-registry.js';

/** One event's place in the history: frames built from it carry `"@offset": text`. */
export interface EventOffset {
  id: StreamId;
  text: string;
}

/** A frame built during a replay, for the one resuming session. */
export interface ReplayFrame {
  data: string;
  topic: string;
}

/**
 * How an event is delivered. Live (no `replay`): to every session of this instance, side
 * effects included. Replay: the same audience rules, against a registry holding only the
 * resuming session; frames are collected, side effects (room grants, revocations) skipped.
 */
export interface Delivery {
  /** Set for events that come from the history (every `/ws` topic). */
  offset?: EventOffset;
  replay?: { registry: SessionRegistry; session: Session; frames: ReplayFrame[] };
}

/** One bus topic: how to read its payload and what to do with it. */
export interface Route<T = unknown> {
  /** Short label for logs and metrics (`tree`, `idm`, `push`...). */
  topic: string;
  /** Throws SchemaError when the payload does not fit. */
  parse(raw: unknown): T;
  /** A promise only in a replay, when the frame waits for something (a node lookup). */
  handle(event: T, delivery: Delivery): void | Promise<void>;
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

  /**
   * Whether a payload fits its channel's schema, counted as a rejection when it does not:
   * what cannot be delivered is not worth appending to the history. Never throws.
   */
  accepts(channel: string, raw: unknown): boolean {
    const route = this.routes.get(channel);
    if (!route) return false;
    try {
      route.parse(raw);
      return true;
    } catch (err) {
      if (err instanceof SchemaError) this.rejected(route, channel, 'schema', err.message);
      else this.rejected(route, channel, 'error', String((err as Error)?.message ?? err).slice(0, 200));
      return false;
    }
  }

  /** Never throws: bad input is counted, and logged (channel and reason, no contents) once per reason. */
  dispatch(channel: string, raw: unknown, delivery: Delivery = {}): void {
    void this.handle(channel, raw, delivery);
  }

  /** The same for one replayed event: settles once its frames (if any) are collected; never rejects. */
  replay(channel: string, raw: unknown, delivery: Delivery): Promise<void> {
    return this.handle(channel, raw, delivery);
  }

  private async handle(channel: string, raw: unknown, delivery: Delivery): Promise<void> {
    const route = this.routes.get(channel);
    if (!route) return;
    let event: unknown;
    try {
      event = route.parse(raw);
    } catch (err) {
      if (delivery.replay) return; // counted when it was live
      if (err instanceof SchemaError) this.rejected(route, channel, 'schema', err.message);
      else this.rejected(route, channel, 'error', String((err as Error)?.message ?? err).slice(0, 200));
      return;
    }
    if (!delivery.replay) this.metrics.busEvents.inc({ topic: route.topic });
    try {
      const pending = route.handle(event, delivery);
      if (pending) await pending;
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

/** The frame with its `"@offset"` (last key), when the event has one. */
export function withOffset<T extends object>(frame: T, offset: EventOffset | undefined): T {
  return offset ? { ...frame, '@offset': offset.text } : frame;
}
