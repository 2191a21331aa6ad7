import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Identity } from '../auth/identity.js';
import type { Json } from '../common/schema.js';
import { compareIds, type StreamId } from '../history/offset.js';
import type { Outbox } from './outbox.js';

export type Endpoint = 'events' | 'chat';

/** Handles one client frame; a returned promise holds back the session's later frames until it settles. */
export type FrameHandler = (session: Session, msg: Json) => void | Promise<void>;

/** The rooms of a session in none: shared, never changed. */
const NO_ROOMS: ReadonlySet<string> = new Set();

let lastStamp = 0;

/** A number from one process-wide increasing sequence: orders fan-out jobs against identity changes. */
export function nextStamp(): number {
  return ++lastStamp;
}

/**
 * One WebSocket connection and what it is allowed to receive: all of a session's state, in
 * one place. Each part is changed by one collaborator of its host, through the methods here
 * or its own fields (named below): the registry sets the identity and rooms, InboundFrames
 * the inbound limit and the frame queue, Renewals the timer fields, the resume the replayed
 * offset, SessionHost the closing. Fields rather than objects: an idle session must stay
 * small (a few KB with its socket), and every object per session costs its header.
 */
export class Session {
  /** Also the websocket-push `tabWindowId`: the target of `pushToSession`. */
  readonly id = randomUUID();
  private current?: Identity;
  /** Created on the first join and dropped with the last leave: most sessions join none. */
  private roomSet?: Set<string>;
  private subscribes = 0;
  /** Stamp of the last identity change that dropped what was queued (see `forgetQueued`). */
  private stamp = 0;
  /** Set by a successful resume: events up to here were replayed, live copies are skipped. */
  private replayedTo?: StreamId;
  private closingSince = 0;

  /** Renewals (its DueQueue): when the subscribe deadline, the next renewal step or the end of a close is due. */
  dueAt = 0;
  dueIndex = -1;
  /** Renewals: the index of the next step in the token's renewal plan. */
  renewalStep = 0;
  /** Renewals: what stands for `iat` in the plan of a token without one (the subscribe time, unix seconds). */
  renewalIat?: number;
  /** InboundFrames: when the inbound frame bucket is full again (`takeToken`). */
  inboundFull = 0;
  /** InboundFrames: settles when the frame being handled is done; later frames wait for it. */
  busy?: Promise<void>;

  constructor(
    readonly endpoint: Endpoint,
    readonly socket: WebSocket,
    readonly outbox: Outbox,
    /** Handles the client's frames (the gateway's). */
    readonly frame: FrameHandler,
  ) {}

  get identity(): Identity | undefined {
    return this.current;
  }

  get user(): string | undefined {
    return this.current?.user;
  }

  /** For the registry, which indexes the session under it. */
  assignIdentity(identity: Identity | undefined): void {
    this.current = identity;
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

  /** A subscribe or unsubscribe begins: what an older one finishes later no longer counts. Returns its number. */
  nextSubscribe(): number {
    return ++this.subscribes;
  }

  /** Whether subscribe number `n` is still the latest. */
  isLatestSubscribe(n: number): boolean {
    return n === this.subscribes;
  }

  /** Whether a fan-out job stamped `stamp` was built for the identity the session has now. */
  accepts(stamp: number): boolean {
    return this.stamp < stamp;
  }

  /** A resume replayed the events up to `upTo` (undefined: none, a new subscribe). */
  replayedUpTo(upTo: StreamId | undefined): void {
    this.replayedTo = upTo;
  }

  /** True when the event at `offset` was already replayed to this session. */
  replayed(offset: StreamId | undefined): boolean {
    return offset !== undefined && this.replayedTo !== undefined && compareIds(offset, this.replayedTo) <= 0;
  }

  /** The service decided to close it: its frames are ignored, nothing reaches it any more. */
  get closing(): boolean {
    return this.closingSince !== 0;
  }

  markClosing(): void {
    this.closingSince ||= Date.now();
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
    this.stamp = nextStamp();
    this.outbox.drop(keepTopic);
  }
}
