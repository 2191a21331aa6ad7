import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Identity } from '../auth/identity.js';
import { compareIds, type StreamId } from '../history/offset.js';
import type { Outbox } from './outbox.js';
import type { FrameHandler } from './session-host.js';

export type Endpoint = 'events' | 'chat';

/** The rooms of a session in none: shared, never changed. */
const NO_ROOMS: ReadonlySet<string> = new Set();

let lastStamp = 0;

/** A number from one process-wide increasing sequence: orders fan-out jobs against identity changes. */
export function nextStamp(): number {
  return ++lastStamp;
}

/** One WebSocket connection and what it is allowed to receive. */
export class Session {
  /** Also the websocket-push `tabWindowId`: the target of `pushToSession`. */
  readonly id = randomUUID();
  identity?: Identity;
  /** Created on the first join and dropped with the last leave: most sessions join none. */
  private roomSet?: Set<string>;
  /** Bumped at each subscribe so that a slow, older verification cannot overwrite a newer one. */
  subscribeSeq = 0;
  /** When the subscribe deadline or the next renewal step is due, in the host's DueQueue. */
  dueAt = 0;
  dueIndex = -1;
  /** The index of that step in the token's renewal plan. */
  renewalStep = 0;
  /** What stands for `iat` in the plan of a token without one: the subscribe time (unix seconds). */
  renewalIat?: number;
  /** Settles when the frame being handled is done; later frames wait for it (SessionHost). */
  busy?: Promise<void>;
  /**
   * Stamp of the last identity change that dropped what was queued: a fan-out job stamped
   * before it was built for an older identity and no longer reaches this session (Fanout).
   */
  since = 0;
  /** Handles the client's frames (SessionHost). */
  frame?: FrameHandler;
  /** The inbound frame limit (SessionHost): when its bucket is full again (`takeToken`). */
  inboundFull = 0;
  /** Set by a successful resume: events up to here were replayed, live copies are skipped. */
  replayedUpTo?: StreamId;

  constructor(
    readonly endpoint: Endpoint,
    readonly socket: WebSocket,
    readonly outbox: Outbox,
  ) {}

  /** True when the event at `offset` was already replayed to this session. */
  replayed(offset: StreamId | undefined): boolean {
    return offset !== undefined && this.replayedUpTo !== undefined && compareIds(offset, this.replayedUpTo) <= 0;
  }

  /** Push rooms (section 5) or chat rooms (section 4) this session is in. Changed through the registry only. */
  get rooms(): ReadonlySet<string> {
    return this.roomSet ?? NO_ROOMS;
  }

  /** For the registry. */
  addRoom(room: string): void {
    (this.roomSet ??= new Set()).add(room);
  }

  /** For the registry. */
  deleteRoom(room: string): void {
    if (this.roomSet?.delete(room) && this.roomSet.size === 0) this.roomSet = undefined;
  }

  get user(): string | undefined {
    return this.identity?.user;
  }

  /** Sends a control frame (ack, error, reply) right away: unpaced, but within the session's byte bound. */
  reply(frame: object): void {
    this.outbox.control(JSON.stringify(frame));
  }

  /**
   * The identity shrank or changed hands: nothing built for the previous one reaches the
   * socket any more, neither the outbox queue nor fan-out jobs still under way. Frames of
   * `keepTopic` already queued stay (the idm frame that tells the client why).
   */
  forgetQueued(keepTopic?: string): void {
    this.since = nextStamp();
    this.outbox.drop(keepTopic);
  }
}
