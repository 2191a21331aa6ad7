import type { Logger } from '@nestjs/common';
import { AuthError, subscribeResult } from '../auth/auth-error.js';
import type { Revocations } from '../auth/revocations.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { heartbeatAck } from '../common/heartbeat.js';
import type { Config } from '../config/config.js';
import type { Metrics } from '../metrics/metrics.js';
import { CloseCode } from '../protocol/close-codes.js';
import { errorFrame, type ErrorCode } from '../protocol/frames.js';
import type { Renewals } from './renewals.js';
import type { Endpoint, Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';

/**
 * Replays the history to a session that subscribed with `resumeFrom` (PROTOCOL 6). Runs
 * after the `subscribed` ack, with the session's live frames held; answers `resumed` and
 * releases the hold, whatever happens. Never rejects.
 */
export type Resume = (session: Session) => Promise<void>;

/** What `/ws` adds to a subscribe (PROTOCOL 6): where live delivery stands, and the resume when asked for. */
export interface Stream {
  /** The history's position now (History.position): given in the ack, to resume from before any event. */
  position(): string | undefined;
  resume?: Resume;
}

/** How the host ends a session that may not go on. */
export interface Refusals {
  refuse(session: Session, code: ErrorCode, reason?: string): void;
  close(session: Session, code: number, reason: string): void;
}

/**
 * Subscribe and unsubscribe (PROTOCOL 2): the token verified, a deleted user's old token and
 * a user past MAX_SESSIONS_PER_USER refused, then the identity indexed (its rooms re-checked
 * by their owners before the ack), the renewal planned, and on `/ws` the resume.
 */
export class Subscriptions {
  constructor(
    private readonly endpoint: Endpoint,
    private readonly registry: SessionRegistry,
    private readonly verifier: TokenVerifier,
    private readonly config: Config,
    private readonly metrics: Metrics,
    private readonly renewals: Renewals,
    private readonly refusals: Refusals,
    private readonly log: Logger,
    private readonly revocations?: Revocations,
  ) {}

  async subscribe(session: Session, jwt: unknown, stream?: Stream): Promise<void> {
    const resume = stream?.resume;
    const n = session.nextSubscribe();
    let holding = false;
    try {
      const identity = await this.verifier.verify(jwt);
      const revoked = await this.revocations?.isRevoked(identity);
      if (!session.isLatestSubscribe(n) || session.closing) return; // superseded or gone
      // Checked again now: a deletion handled here while Redis answered must not slip through.
      if (revoked || this.revocations?.revokedLocally(identity)) {
        // A deleted user's token, issued before the deletion: refused everywhere (PROTOCOL 2).
        this.metrics.subscribes.inc({ endpoint: this.endpoint, result: 'revoked' });
        session.reply(errorFrame('user_removed'));
        return this.refusals.close(session, CloseCode.forbidden, 'user removed');
      }
      const max = this.config.limits.maxSessionsPerUser;
      // Per endpoint and instance: the registry knows this instance's sessions only.
      if (max && session.user !== identity.user && this.registry.withKeys([`user:${identity.user}`]).size >= max) {
        this.metrics.subscribes.inc({ endpoint: this.endpoint, result: 'too_many_sessions' });
        session.reply(errorFrame('too_many_sessions', `too many sessions for this user (${max})`));
        return this.refusals.close(session, CloseCode.tooManyFrames, 'too many sessions');
      }
      const previous = session.identity;
      if (resume) {
        // From before the session is indexed for its new identity: no live frame may pass the replay.
        session.outbox.hold();
        holding = true;
        session.replayedUpTo(undefined);
      }
      // Drops what was queued for a narrower previous identity, and re-checks every room
      // (push, chat) before the ack: the session's next frame is handled only after that.
      const rechecked = this.registry.setIdentity(session, identity, jwt as string);
      // Read as the session is indexed: every later entry reaches it live. A resume sets its own.
      const position = resume ? undefined : stream?.position();
      if (!previous) this.metrics.sessions.inc({ endpoint: this.endpoint });
      this.renewals.planned(session, previous?.exp);
      await rechecked;
      if (session.closing) return;
      this.metrics.subscribes.inc({ endpoint: this.endpoint, result: 'ok' });
      this.log.log({ msg: 'subscribed', sessionId: session.id, user: identity.user, workspaces: identity.workspaces.length });
      session.reply({
        '@type': 'subscribed',
        sessionId: session.id,
        user: identity.user,
        workspaces: identity.workspaces.map((w) => w.uuid),
        expiresAt: identity.exp,
        ...heartbeatAck(session.socket, this.config.limits.pingIntervalMs), // ext PROTOCOL 2.1 (opt-in, see common/heartbeat.ts)
        ...(position && { '@offset': position }), // ext PROTOCOL 6
      });
      if (resume) {
        holding = false;
        await resume(session);
      }
    } catch (err) {
      if (!session.isLatestSubscribe(n)) return;
      const reason = err instanceof AuthError ? err.message : 'authentication failed';
      if (!(err instanceof AuthError)) this.log.error(`subscribe failed: ${(err as Error).stack}`);
      const result = subscribeResult(reason);
      this.metrics.subscribes.inc({ endpoint: this.endpoint, result });
      this.refusals.refuse(session, result === 'expired' ? 'token_expired' : 'unauthenticated', reason);
    } finally {
      if (holding) session.outbox.release();
    }
  }

  /** Settles once the rooms have been left (the session's next frame waits for it). */
  unsubscribe(session: Session): Promise<void> {
    session.nextSubscribe();
    if (session.identity) this.metrics.sessions.dec({ endpoint: this.endpoint });
    return this.registry.setIdentity(session, undefined);
  }
}
