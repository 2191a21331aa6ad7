import type { Config } from '../config/config.js';
import { DueQueue } from './due-queue.js';
import type { Session } from './session.js';
import { renewalPlan, stepAtSubscribe, type RenewalStep } from './token-renewal.js';

/** What the host does when a session's time is up. */
export interface RenewalActions {
  /** No subscribe within the deadline (4401). */
  noSubscribe(session: Session): void;
  /** The token's grace is over (4401). */
  expired(session: Session): void;
  /** Closing took longer than its bound: cut the socket. */
  closeTimedOut(session: Session): void;
}

/**
 * Every session's one timer, in one DueQueue for the host: the subscribe deadline of a
 * session without an identity; the renewal steps of one with a token (PROTOCOL 2, Renewal:
 * the `expiring` frame and the `idm` prompts an unmodified Cells client renews on, then, at
 * the end of the grace, 4401 `token expired`); the bound on a close. Both notices go to `/ws`
 * only: the Cells chat UI does not renew, and may show an unknown frame as a message. Each
 * (re-)subscribe plans again; steps already past are skipped, so a client that re-sends the
 * same token is not prompted in a loop, and a step whose time came before the subscribe
 * (a token with less than TOKEN_RENEW_BEFORE_SECONDS left) is sent at once. The session keeps
 * only the index of its next step: the plan is computed again when a step is due.
 */
export class Renewals {
  private readonly queue = new DueQueue<Session>((session) => this.due(session));

  constructor(
    private readonly config: Config,
    private readonly events: boolean,
    private readonly actions: RenewalActions,
  ) {}

  /** A connection without a subscribed identity, new or after an `unsubscribe`, must subscribe within the deadline. */
  deadline(session: Session): void {
    this.queue.set(session, this.config.limits.subscribeTimeoutMs);
  }

  /**
   * The session's token changed: plan its renewal. A token of the same `exp` as the previous
   * one (`previousExp`) keeps its place in the plan: what was sent is not sent again.
   */
  planned(session: Session, previousExp?: number): void {
    this.queue.delete(session);
    const identity = session.identity;
    if (!identity || identity.exp === undefined) return;
    const now = Date.now();
    session.renewalIat = identity.iat === undefined ? now / 1000 : undefined;
    const plan = this.plan(session, identity.exp);
    session.renewalStep = stepAtSubscribe(plan, now, previousExp === identity.exp ? session.renewalStep : undefined);
    this.arm(session, plan);
  }

  /** The session is closing: its socket gets `ms` to finish the close handshake. */
  closing(session: Session, ms: number): void {
    this.queue.set(session, ms);
  }

  forget(session: Session): void {
    this.queue.delete(session);
  }

  private due(session: Session): void {
    if (session.closing) return this.actions.closeTimedOut(session);
    const identity = session.identity;
    if (!identity) return this.actions.noSubscribe(session);
    if (identity.exp === undefined) return; // the step is replaced on every change of token
    const plan = this.plan(session, identity.exp);
    const step = plan[session.renewalStep];
    if (!step) return;
    if (step.at > Date.now()) return this.arm(session, plan);
    if (step.kind === 'expired') return this.actions.expired(session);
    if (step.kind === 'expiring') session.reply({ '@type': 'expiring', expiresAt: identity.exp });
    // No Uuid: the Cells admin user editor reloads a user only on an UPDATE naming its Uuid.
    else session.reply({ '@type': 'idm', Type: 'UPDATE', User: { Login: identity.user } });
    session.renewalStep++;
    this.arm(session, plan);
  }

  private plan(session: Session, exp: number): RenewalStep[] {
    const { expiryGraceSeconds: graceSeconds, renewBeforeSeconds } = this.config.jwt;
    const iat = session.identity?.iat ?? session.renewalIat ?? exp;
    return renewalPlan(exp, iat, { graceSeconds, renewBeforeSeconds: this.events ? renewBeforeSeconds : 0, prompt: this.events });
  }

  private arm(session: Session, plan: RenewalStep[]): void {
    const step = plan[session.renewalStep];
    if (step) this.queue.set(session, step.at - Date.now());
  }
}
