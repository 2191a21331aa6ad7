import { Logger } from '@nestjs/common';
import type { RawData, WebSocket } from 'ws';
import type { Revocations } from '../auth/revocations.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { fitCloseReason } from '../common/close-reason.js';
import type { Config } from '../config/config.js';
import type { Metrics } from '../metrics/metrics.js';
import { CloseCode } from '../protocol/close-codes.js';
import { ERROR_CODES, errorFrame, type ErrorCode } from '../protocol/frames.js';
import { InboundFrames } from './inbound.js';
import { Outbox, type OutboxHooks, type OutboxLimits } from './outbox.js';
import { Renewals } from './renewals.js';
import { Session, type Endpoint, type FrameHandler } from './session.js';
import type { SessionRegistry } from './session-registry.js';
import { Subscriptions, type Stream } from './subscriptions.js';

export type { Resume, Stream } from './subscriptions.js';

/**
 * How long a socket the service closes gets to answer the close frame before it is cut: a
 * client that never reads (the usual reason for a 4008) would otherwise keep it, its buffers
 * and its frames for ws' 30 s.
 */
export const CLOSE_HANDSHAKE_MS = 2000;

/** The session of each open socket, for the listeners that a host's sockets share. */
const sessions = new WeakMap<WebSocket, Session>();

/**
 * The sessions of one endpoint (the sessions module provides one per endpoint): a session per
 * socket, the registry that indexes them, and closing with the codes of PROTOCOL 7. The rest is
 * done by small collaborators on the session's state: InboundFrames (limits, JSON, order),
 * Subscriptions (subscribe, unsubscribe, resume), Renewals (deadline, renewal, close bound).
 * The gateway reads the frames; everything else uses the registry and `close`.
 */
export class SessionHost {
  private readonly log: Logger;
  /**
   * What every session of the host shares, built once: a closure per session (listeners,
   * outbox hooks) would cost its heap. The socket listeners find their session in `sessions`.
   */
  private readonly outboxLimits: OutboxLimits;
  private readonly outboxHooks: OutboxHooks;
  private readonly onMessage: (this: WebSocket, raw: RawData) => void;
  private readonly onError: (err: Error & { code?: string }) => void;
  private readonly onClose: (this: WebSocket) => void;
  private readonly inbound: InboundFrames;
  private readonly renewals: Renewals;
  private readonly subscriptions: Subscriptions;

  constructor(
    private readonly endpoint: Endpoint,
    readonly registry: SessionRegistry,
    verifier: TokenVerifier,
    config: Config,
    private readonly metrics: Metrics,
    revocations?: Revocations,
  ) {
    this.log = new Logger(`${endpoint}-sessions`);
    const { limits } = config;
    this.outboxLimits = { rate: limits.sessionRate, burst: limits.sessionBurst, queueMax: limits.sessionQueueMax, maxBufferedBytes: limits.sessionMaxBufferedBytes };
    this.outboxHooks = {
      sent: (topic, receivedAt) => metrics.frameSent(topic, receivedAt),
      queued: (delta) => metrics.outboxQueued.inc(delta),
      overflow: (socket) => {
        const session = sessions.get(socket);
        if (session) this.close(session, CloseCode.slowConsumer, 'slow consumer');
      },
    };
    this.inbound = new InboundFrames(
      limits,
      this.log,
      (session) => this.close(session, CloseCode.tooManyFrames, 'too many frames'),
      (session) => this.refuse(session, 'bad_json'),
    );
    this.renewals = new Renewals(config, endpoint === 'events', {
      noSubscribe: (session) => this.refuse(session, 'no_subscribe'),
      expired: (session) => this.refuse(session, 'token_expired'),
      closeTimedOut: (session) => session.socket.terminate(),
    });
    this.subscriptions = new Subscriptions(endpoint, registry, verifier, config, metrics, this.renewals, this, this.log, revocations);
    const message = (socket: WebSocket, raw: RawData) => {
      const session = sessions.get(socket);
      if (session) this.inbound.received(session, raw);
    };
    const closed = (socket: WebSocket) => {
      const session = sessions.get(socket);
      if (!session) return;
      sessions.delete(socket);
      this.release(session);
      this.renewals.forget(session);
      metrics.connections.dec({ endpoint });
    };
    this.onMessage = function (raw) {
      message(this, raw);
    };
    this.onClose = function () {
      closed(this);
    };
    this.onError = (err) => {
      // ws closes with 1009 by itself past maxPayload: count it with the server's other closes.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') metrics.closes.inc({ code: String(CloseCode.tooLarge) });
    };
  }

  /** A new connection: its frames go to `frame`, one at a time, in order. */
  open(socket: WebSocket, frame: FrameHandler): Session {
    const session = new Session(this.endpoint, socket, new Outbox(socket, this.outboxLimits, this.outboxHooks), frame);
    sessions.set(socket, session);
    this.registry.add(session);
    this.metrics.connections.inc({ endpoint: this.endpoint });
    this.renewals.deadline(session);
    socket.on('message', this.onMessage);
    socket.on('error', this.onError);
    socket.on('close', this.onClose); // ws emits it once
    return session;
  }

  subscribe(session: Session, jwt: unknown, stream?: Stream): Promise<void> {
    return this.subscriptions.subscribe(session, jwt, stream);
  }

  /** Settles once the rooms have been left (the session's next frame waits for it). */
  unsubscribe(session: Session): Promise<void> {
    this.renewals.deadline(session);
    return this.subscriptions.unsubscribe(session);
  }

  /** Sends the error frame (PROTOCOL 2: a text frame, not the close payload), then closes 4401. */
  refuse(session: Session, code: ErrorCode, reason: string = ERROR_CODES[code][0]): void {
    session.reply(errorFrame(code, reason));
    this.close(session, CloseCode.unauthenticated, reason);
  }

  /**
   * Closes with `code`. From here the session costs nothing: it leaves the registry and its
   * rooms at once (no frame reaches it), its frames are ignored, and its socket is cut if
   * the close handshake has not ended within CLOSE_HANDSHAKE_MS.
   */
  close(session: Session, code: number, reason: string): void {
    const { socket } = session;
    if (session.closing || socket.readyState === socket.CLOSING || socket.readyState === socket.CLOSED) return;
    session.markClosing();
    this.metrics.closes.inc({ code: String(code) });
    this.log.log({ msg: 'closing session', sessionId: session.id, user: session.user, code, reason });
    this.release(session);
    this.renewals.closing(session, CLOSE_HANDSHAKE_MS);
    try {
      socket.close(code, fitCloseReason(reason));
    } catch (err) {
      this.log.error(`close failed for session ${session.id}: ${(err as Error)?.message}`);
      socket.terminate();
    }
  }

  /** Out of the registry and every room (push, chat: through the identity listeners); idempotent. */
  private release(session: Session): void {
    session.outbox.close();
    if (!this.registry.get(session.id)) return;
    void this.subscriptions.unsubscribe(session);
    this.registry.remove(session);
  }
}
