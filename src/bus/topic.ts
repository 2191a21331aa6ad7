import { DiscoveryService } from '@nestjs/core';
import type { Channels } from '../config/config.js';
import type { StreamId } from '../history/offset.js';
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

/** What a class declared with `@Topic` does with the events of its channel. */
export interface TopicHandler<T = unknown> {
  /** Short label for logs and metrics (`tree`, `idm`, `push`...). */
  readonly topic: string;
  /** Throws SchemaError when the payload does not fit. */
  parse(raw: unknown): T;
  /** A promise only in a replay, when the frame waits for something (a node lookup). */
  handle(event: T, delivery: Delivery): void | Promise<void>;
}

export interface TopicOptions {
  /** The configuration key of the channel (CHANNEL_* variables; see config.ts). */
  channel: keyof Channels;
}

/**
 * Declares a provider as the handler of one bus channel: the TopicDispatcher finds every
 * such provider at start-up. A new topic is one file with a class like this (plus its
 * channel in config.ts), provided by its feature module.
 */
export const Topic = DiscoveryService.createDecorator<TopicOptions>();

/** The frame with its `"@offset"` (last key), when the event has one. */
export function withOffset<T extends object>(frame: T, offset: EventOffset | undefined): T {
  return offset ? { ...frame, '@offset': offset.text } : frame;
}
