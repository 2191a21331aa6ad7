/**
 * What a topic is: a schema and a pure function from an event to who receives which frame.
 * The delivery service runs every event, live or replayed, through the same function; what a
 * topic must not do twice (revoke a user, drop a workspace, grant a room) it declares as
 * effects, which the delivery service applies to live events only. A topic never touches a
 * session, a socket or Redis.
 */
import { DiscoveryService } from '@nestjs/core';
import type { Identity, Workspace } from '../auth/identity.js';
import type { Channels } from '../config/config.js';
import type { StreamId } from '../history/offset.js';
import type { Endpoint } from '../sessions/session.js';

/** One event's place in the history: frames built from it carry `"@offset": text`. */
export interface EventOffset {
  id: StreamId;
  text: string;
}

/**
 * The sessions holding any of `keys` (registry keys: `user:`, `subject:`, `profile:`, `role:`,
 * `ws:`, `room:`), narrowed to the one session `session` when set; one frame for all of them.
 */
export interface KeyRouting {
  keys: readonly string[];
  session?: string;
  /** Any JSON value; a plain object gets the event's `"@offset"` as its last key, unless `offset` is false. */
  frame: unknown;
  offset?: boolean;
}

/**
 * A node event: the sessions whose workspaces have a root at or above the target's or the
 * source's path, one frame per visible workspace (PROTOCOL 3.2).
 */
export interface RootRouting {
  target?: string;
  source?: string;
  /** Whether this identity may see the event at all (meta policies); absent: all of the audience may. */
  allows?(identity: Identity): boolean;
  /** The frame for one workspace, given its outermost roots holding the target and the source; null: none. */
  frame(workspace: Workspace, targetRoot: string | undefined, sourceRoot: string | undefined): object | null;
}

export type Routing = (KeyRouting | RootRouting) & {
  /** Applied after the frames are handed over, to live events only (never on a replay). */
  effects?: readonly unknown[];
  /** False: a replay leaves it out (PROTOCOL 6: pushes to rooms). */
  replay?: boolean;
};

/** Not delivered at all, for a reason counted in `switchboard_events_dropped_total` (a fixed label). */
export interface Dropped {
  drop: string;
}

export type Route = Routing | Dropped;

/** Events about the same thing that follow each other closely are merged into one (live only). */
export interface Coalescing<E> {
  /** The key of an event that merges with others of the same key; undefined: it does not merge. */
  key(event: E): string | undefined;
  /** For an event that does not merge: a key whose pending merge must go out first (keeps the thing's order). */
  after?(event: E): string | undefined;
  /** `next` merged into `pending` (neither is changed). */
  merge(pending: E, next: E): E;
  /** Out this long after the last event of the key, and never later than `maxWaitMs` after the first. */
  window(first: E): { windowMs: number; maxWaitMs: number };
  /** A replay sends the last event of each key only (a latest value); else every event (node events, PROTOCOL 6). */
  replayLatest?: boolean;
}

/** Events that cannot be routed before a value is looked up (a node's path, by its uuid). */
export interface Locating<E> {
  readonly enabled: boolean;
  /** The key to look up for this event, or undefined when it needs nothing. */
  needs(event: E): string | undefined;
  /** Events with the same order key wait behind a lookup for that key. */
  orderKey(event: E): string | undefined;
  cached(key: string): string | undefined;
  /** Never rejects; undefined when not found, failing or too slow. */
  lookup(key: string): Promise<string | undefined>;
  /** The event with the value found. */
  apply(event: E, value: string): E;
  /** Sees every event that needs no lookup, in order (to keep cached values true). */
  observe?(event: E): void;
}

/** What a class declared with `@Topic` provides. */
export interface TopicHandler<E = unknown, F = unknown> {
  /** Short label for logs and metrics (`tree`, `idm`, `push`...). */
  readonly topic: string;
  /** Whose sessions receive its frames; `/ws` topics go through the history, others straight. Default 'events'. */
  readonly endpoint?: Endpoint;
  /** Throws SchemaError when the payload does not fit. */
  parse(raw: unknown): E;
  /** Pure. */
  route(event: E): Route;
  /** Live events for which this is true pass the global `Silent` limiter (SILENT_RATE). */
  limited?(event: E): boolean;
  coalesce?: Coalescing<E>;
  locate?: Locating<E>;
  /** Applies one declared effect (live only). Must not throw. */
  apply?(effect: F): void;
}

export interface TopicOptions {
  /** The configuration key of the channel (CHANNEL_* variables; see config.ts). */
  channel: keyof Channels;
}

/**
 * Declares a provider as the handler of one bus channel: the TopicRegistry finds every such
 * provider at start-up. A new topic is one file with a class like this (plus its channel in
 * config.ts and its schema in src/protocol/events.ts), provided by its feature module.
 */
export const Topic = DiscoveryService.createDecorator<TopicOptions>();

/** The frame with `"@offset"` as its last key, when it is a plain object and the event has one. */
export function withOffset(frame: unknown, offset: string | undefined): unknown {
  if (offset === undefined || frame === null || typeof frame !== 'object' || Array.isArray(frame)) return frame;
  return { ...frame, '@offset': offset };
}
