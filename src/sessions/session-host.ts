import { Logger } from '@nestjs/common';
import type { RawData, WebSocket } from 'ws';
import { AuthError, subscribeResult } from '../auth/auth-error.js';
import type { Revocations } from '../auth/revocations.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { fitCloseReason } from '../common/close-reason.js';
import { jsonTooDeep } from '../common/json-bounds.js';
import { isRecord, type Json } from '../common/schema.js';
import { takeToken } from '../common/token-bucket.js';
import { ERROR_CODES, errorFrame, type ErrorCode } from '../protocol/frames.js';
import type { Config } from '../config/config.js';
import type { Metrics } from '../ops/metrics.js';
import { DueQueue } from './due-queue.js';
import { Outbox, type OutboxHooks, type OutboxLimits } from './outbox.js';
import { Session, type Endpoint } from './session.js';
import type { SessionRegistry } from './session-registry.js';
import { renewalPlan, stepAtSubscribe, type RenewalStep } from './token-renewal.js';

/** Close codes of PROTOCOL 7. */
export const Close = {
  shuttingDown: 1001,
  tooLarge: 1009,
  unauthenticated: 4401,
  forbidden: 4403,
  slowConsumer: 4008,
  /** Too many frames, or (at subscribe) too many sessions of the user: back off, do not retry at once. */
  tooManyFrames: 4429,
} as const;

/** The session of each open socket, for the listeners that a host's sockets share. */
const sessions = new WeakMap<WebSocket, Session>();

/** Handles one client frame; a returned promise holds back the session's later frames until it settles. */
export type FrameHandler = (session: Session, msg: Json) => void | Promise<void>;

/**
 * Replays the history to a session that subscribed with `resumeFrom` (PROTOCOL 6). Runs
 * after the `subscribed` ack, with the session's live frames held; answers `resumed` and
 * releases the hold, whatever happens. Never rejects.
 */
export type Resume = (session: Session) => Promise<void>;

/**
 * The sessions of one endpoint (the sessions module provides one per endpoint): a session
 * per socket, inbound frame limits, subscribe / unsubscribe with token expiry enforced for
 * the life of the connection (PROTOCOL 2), the registry that indexes them, and closing with
 * the codes of PROTOCOL 7. The gateway reads the frames; everything else uses the registry
 * and `close`.
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
  /**
   * The subscribe deadline of a session without an identity, else its next renewal step:
   * one timer for all the host's sessions.
   */
  private readonly timers = new DueQueue<Session>((session) => (session.identity ? this.renewalStepDue(session) : this.refuse(session, 'no_subscribe')));

  constructor(
    private readonly endpoint: Endpoint,
    readonly registry: SessionRegistry,
    private readonly verifier: TokenVerifier,
    private readonly config: Config,
    private readonly metrics: Metrics,
    private readonly revocations?: Revocations,
  ) {
    this.log = new Logger(`${endpoint}-sessions`);
    const { limits } = config;
    this.outboxLimits = { rate: limits.sessionRate, burst: limits.sessionBurst, queueMax: limits.sessionQueueMax, maxBufferedBytes: limits.sessionMaxBufferedBytes };
    this.outboxHooks = {
      sent: (topic, receivedAt) => metrics.frameSent(topic, receivedAt),
      queued: (delta) => metrics.outboxQueued.inc(delta),
      overflow: (socket) => {
        const session = sessions.get(socket);
        if (session) this.close(session, Close.slowConsumer, 'slow consumer');
      },
    };
    const message = (socket: WebSocket, raw: RawData) => this.message(socket, raw);
    const closed = (socket: WebSocket) => {
      const session = sessions.get(socket);
      if (session) this.closed(session);
    };
    this.onMessage = function (raw) {
      message(this, raw);
    };
    this.onClose = function () {
      closed(this);
    };
    this.onError = (err) => {
      // ws closes with 1009 by itself past maxPayload: count it with the server's other closes.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') metrics.closes.inc({ code: String(Close.tooLarge) });
    };
  }

  /** A new connection: its frames go to `frame`, one at a time, in order. */
  open(socket: WebSocket, frame: FrameHandler): Session {
    const session = new Session(this.endpoint, socket, new Outbox(socket, this.outboxLimits, this.outboxHooks));
    session.frame = frame;
    sessions.set(socket, session);
    this.registry.add(session);
    this.metrics.connections.inc({ endpoint: this.endpoint });

    this.armDeadline(session);

    socket.on('message', this.onMessage);
    socket.on('error', this.onError);
    socket.on('close', this.onClose); // ws emits it once
    return session;
  }

  private message(socket: WebSocket, raw: RawData): void {
    const session = sessions.get(socket);
    if (!session) return;
    const { limits } = this.config;
    const full = takeToken(session.inboundFull, Date.now(), limits.clientFrameRate, limits.clientFrameBurst);
    if (full === undefined) return this.close(session, Close.tooManyFrames, 'too many frames');
    session.inboundFull = full;
    let msg: unknown;
    try {
      const text = raw.toString();
      // Nothing a client sends needs depth; a deep value would only get in the way later.
      msg = jsonTooDeep(text, limits.maxJsonDepth) ? undefined : JSON.parse(text);
    } catch {
      msg = undefined;
    }
    if (!isRecord(msg)) {
      // Before a subscribe, nothing but a subscribe is expected: treat it as a failed one.
      if (!session.identity) return this.refuse(session, 'bad_json');
      return session.reply(errorFrame('bad_frame', 'frame is not a JSON object'));
    }
    this.dispatch(session, msg, session.frame!);
  }

  /**
   * Frames are handled in the order they came: while one is still at work (a subscribe
   * verifying its token, a chat store call), the later ones wait behind it, so that a
   * client may send `subscribe` and `join` back to back as Cells clients do.
   */
  private dispatch(session: Session, msg: Json, frame: FrameHandler): void {
    const run = () => this.handle(session, msg, frame);
    const result = session.busy ? session.busy.then(run) : run();
    if (!result) return;
    const busy: Promise<void> = result.then(() => {
      if (session.busy === busy) session.busy = undefined;
    });
    session.busy = busy;
  }

  /** Never throws, and its promise never rejects. */
  private handle(session: Session, msg: Json, frame: FrameHandler): void | Promise<void> {
    const failed = (err: unknown) => {
      this.log.error(`frame handler failed for session ${session.id}: ${(err as Error)?.stack}`);
      session.reply(errorFrame('internal'));
    };
    try {
      return frame(session, msg)?.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  async subscribe(session: Session, jwt: unknown, resume?: Resume): Promise<void> {
    const seq = ++session.subscribeSeq;
    let holding = false;
    try {
      const identity = await this.verifier.verify(jwt);
      const revoked = await this.revocations?.isRevoked(identity);
      if (seq !== session.subscribeSeq || !this.registry.get(session.id)) return; // superseded or gone
      // Checked again now: a deletion handled here while Redis answered must not slip through.
      if (revoked || this.revocations?.revokedLocally(identity)) {
        // A deleted user's token, issued before the deletion: refused everywhere (PROTOCOL 2).
        this.metrics.subscribes.inc({ endpoint: this.endpoint, result: 'revoked' });
        session.reply(errorFrame('user_removed'));
        return this.close(session, Close.forbidden, 'user removed');
      }
      const max = this.config.limits.maxSessionsPerUser;
      // Per endpoint and instance: the registry knows this instance's sessions only.
      if (max && session.user !== identity.user && this.registry.withKeys([`user:${identity.user}`]).size >= max) {
        this.metrics.subscribes.inc({ endpoint: this.endpoint, result: 'too_many_sessions' });
        session.reply(errorFrame('too_many_sessions', `too many sessions for this user (${max})`));
        return this.close(session, Close.tooManyFrames, 'too many sessions');
      }
      const previous = session.identity;
      if (resume) {
        // From before the session is indexed for its new identity: no live frame may pass the replay.
        session.outbox.hold();
        holding = true;
        session.replayedUpTo = undefined;
      }
      // Drops what was queued for a narrower previous identity, and re-checks every room
      // (push, chat) before the ack: the session's next frame is handled only after that.
      const rechecked = this.registry.setIdentity(session, identity, jwt as string);
      if (!previous) this.metrics.sessions.inc({ endpoint: this.endpoint });
      this.armExpiry(session, previous?.exp);
      await rechecked;
      if (!this.registry.get(session.id)) return; // closed meanwhile
      this.metrics.subscribes.inc({ endpoint: this.endpoint, result: 'ok' });
      this.log.log({ msg: 'subscribed', sessionId: session.id, user: identity.user, workspaces: identity.workspaces.length });
      session.reply({
        '@type': 'subscribed',
        sessionId: session.id,
        user: identity.user,
        workspaces: identity.workspaces.map((w) => w.uuid),
        expiresAt: identity.exp,
      });
      if (resume) {
        holding = false;
        await resume(session);
      }
    } catch (err) {
      if (seq !== session.subscribeSeq) return;
      const reason = err instanceof AuthError ? err.message : 'authentication failed';
      if (!(err instanceof AuthError)) this.log.error(`subscribe failed: ${(err as Error).stack}`);
      const result = subscribeResult(reason);
      this.metrics.subscribes.inc({ endpoint: this.endpoint, result });
      this.refuse(session, result === 'expired' ? 'token_expired' : 'unauthenticated', reason);
    } finally {
      if (holding) session.outbox.release();
    }
  }

  /** Settles once the rooms have been left (the session's next frame waits for it). */
  unsubscribe(session: Session): Promise<void> {
    session.subscribeSeq++;
    this.armDeadline(session);
    if (session.identity) this.metrics.sessions.dec({ endpoint: this.endpoint });
    return this.registry.setIdentity(session, undefined);
  }

  /**
   * Admission (PROTOCOL 2): a connection without a subscribed identity, new or after an
   * `unsubscribe`, must subscribe within the deadline. It shares the session's one timer
   * with the expiry, which replaces it on a successful subscribe.
   */
  private armDeadline(session: Session): void {
    this.timers.set(session, this.config.limits.subscribeTimeoutMs);
  }

  /** Sends the error frame (PROTOCOL 2: a text frame, not the close payload), then closes 4401. */
  refuse(session: Session, code: ErrorCode, reason: string = ERROR_CODES[code][0]): void {
    session.reply(errorFrame(code, reason));
    this.close(session, Close.unauthenticated, reason);
  }

  close(session: Session, code: number, reason: string): void {
    const { socket } = session;
    if (socket.readyState === socket.CLOSING || socket.readyState === socket.CLOSED) return;
    this.metrics.closes.inc({ code: String(code) });
    this.log.log({ msg: 'closing session', sessionId: session.id, user: session.user, code, reason });
    session.outbox.close();
    try {
      socket.close(code, fitCloseReason(reason));
    } catch (err) {
      this.log.error(`close failed for session ${session.id}: ${(err as Error)?.message}`);
      socket.terminate();
    }
  }

  /**
   * Renewal (PROTOCOL 2): the `expiring` frame and the `idm` prompts an unmodified Cells
   * client renews on, then, at the end of the grace, 4401 `token expired`. Both notices go
   * to `/ws` only: the Cells chat UI does not renew, and may show an unknown frame as a message.
   * Each (re-)subscribe plans again; steps already past are skipped (but `expiring`, sent at
   * once to a token subscribed with less than the renew-before left), so a client that
   * re-sends the same token is not prompted in a loop. The session keeps only the index of
   * its next step: the plan is computed again when a step is due (holding it cost ~500 B a session).
   */
  private armExpiry(session: Session, previousExp?: number): void {
    this.timers.delete(session);
    const identity = session.identity;
    if (!identity || identity.exp === undefined) return;
    const now = Date.now();
    session.renewalIat = identity.iat === undefined ? now / 1000 : undefined;
    const plan = this.renewalPlan(session, identity.exp);
    // A token of the same exp keeps its place in the plan: what was sent is not sent again.
    session.renewalStep = stepAtSubscribe(plan, now, previousExp === identity.exp ? session.renewalStep : undefined);
    this.armStep(session, plan);
  }

  private renewalPlan(session: Session, exp: number): RenewalStep[] {
    const { expiryGraceSeconds: graceSeconds, renewBeforeSeconds } = this.config.jwt;
    const events = this.endpoint === 'events';
    const iat = session.identity?.iat ?? session.renewalIat ?? exp;
    return renewalPlan(exp, iat, { graceSeconds, renewBeforeSeconds: events ? renewBeforeSeconds : 0, prompt: events });
  }

  private armStep(session: Session, plan: RenewalStep[]): void {
    const step = plan[session.renewalStep];
    if (!step) return;
    this.timers.set(session, step.at - Date.now());
  }

  /** The step set by `armStep` is due, or its wait was cut short (then it waits again). */
  private renewalStepDue(session: Session): void {
    const identity = session.identity;
    if (!identity || identity.exp === undefined) return; // the step is replaced on every change of token
    const { exp } = identity;
    const plan = this.renewalPlan(session, exp);
    const step = plan[session.renewalStep];
    if (!step) return;
    if (step.at > Date.now()) return this.armStep(session, plan);
    if (step.kind === 'expired') return this.refuse(session, 'token_expired');
    if (step.kind === 'expiring') session.reply({ '@type': 'expiring', expiresAt: exp });
    // No Uuid: the Cells admin user editor reloads a user only on an UPDATE naming its Uuid.
    else session.reply({ '@type': 'idm', Type: 'UPDATE', User: { Login: identity.user } });
    session.renewalStep++;
    this.armStep(session, plan);
  }

  private closed(session: Session): void {
    if (!this.registry.get(session.id)) return;
    void this.unsubscribe(session); // out of every room (push, chat) through the identity listeners
    this.timers.delete(session);
    session.outbox.close();
    this.registry.remove(session);
    this.metrics.connections.dec({ endpoint: this.endpoint });
  }
}
