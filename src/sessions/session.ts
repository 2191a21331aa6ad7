import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Identity } from '../auth/identity.js';
import type { Outbox } from './outbox.js';

export type Endpoint = 'events' | 'chat';

/** One WebSocket connection and what it is allowed to receive. */
export class Session {
  /** Also the websocket-push `tabWindowId`: the target of `pushToSession`. */
  readonly id = randomUUID();
  identity?: Identity;
  /** Push rooms (section 5) or chat rooms (section 4) this session is in. */
  readonly rooms = new Set<string>();
  /** Bumped at each subscribe so that a slow, older verification cannot overwrite a newer one. */
  subscribeSeq = 0;
  expiryTimer?: NodeJS.Timeout;
  /** Settles when the frame being handled is done; later frames wait for it (SessionHost). */
  busy?: Promise<void>;

  constructor(
    readonly endpoint: Endpoint,
    readonly socket: WebSocket,
    readonly outbox: Outbox,
  ) {}

  get user(): string | undefined {
    return this.identity?.user;
  }

  /** Sends a control frame (ack, error, reply) right away, outside flow control. */
  reply(frame: object): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(frame));
  }
}
