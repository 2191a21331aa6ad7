import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { Revocations } from '../auth/revocations.js';
import { parseWith, SchemaError, type Json } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../metrics/metrics.js';
import { CallFrame, errorFrame, type CallErrorFrame, type CallId, type ErrorCode } from '../protocol/frames.js';
import { EventSessions } from '../sessions/endpoints.js';
import type { Session } from '../sessions/session.js';
import type { IdentityChange } from '../sessions/session-registry.js';
import { CallCancelled, postCall, type CallOutcome } from './call-backend.js';
import { CallTokens } from './call-token.js';

/** The calls a session has in flight, by id (as JSON, so that `1` and `"1"` differ). */
type InFlight = Map<string, AbortController>;

/**
 * Calls over the socket (PROTOCOL 9; pakyow's "calling routes over a WebSocket", Centrifugo's
 * RPC proxy): a `/ws` session's `call` frame is POSTed to the backend CALL_ROUTES names for
 * its method, with the caller's verified identity in a short-lived token the service signs,
 * and the answer goes back to that session alone, through its outbox.
 *
 * The frame handler returns at once: the call runs beside the session's later frames and
 * events, never in front of them. An answer reaches the session only while it is the same
 * subscribed identity that called: a call of a session that closes, unsubscribes, becomes
 * another user or loses rights is aborted, and its answer dropped.
 */
@Injectable()
export class CallService {
  private readonly log = new Logger(CallService.name);
  private readonly tokens?: CallTokens;
  private readonly inFlight = new WeakMap<Session, InFlight>();
  /** Calls in flight on this instance. */
  private running = 0;
  /** Methods and reasons already logged: a failing backend is logged once, then counted. */
  private readonly logged = new Set<string>();
  private readonly calls: Counter<'method' | 'result'>;
  private readonly duration: Histogram<'method'>;
  private readonly gauge: Gauge;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly sessions: EventSessions,
    private readonly revocations: Revocations,
    metrics: Metrics,
  ) {
    const { signingSecret, issuer, timeoutMs } = config.calls;
    if (signingSecret) this.tokens = new CallTokens(signingSecret, issuer, Math.ceil(timeoutMs / 1000));
    const registers = [metrics.registry];
    this.calls = new Counter({
      name: 'switchboard_calls_total',
      help: 'Calls over the socket by method (a CALL_ROUTES name, or "unknown") and result (ok or an error code)',
      labelNames: ['method', 'result'],
      registers,
    });
    this.duration = new Histogram({
      name: 'switchboard_call_duration_seconds',
      help: 'From a call reaching the backend to its answer, per method',
      labelNames: ['method'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10],
      registers,
    });
    this.gauge = new Gauge({ name: 'switchboard_calls_in_flight', help: 'Calls waiting for their backend on this instance', registers, collect: () => this.gauge.set(this.running) });
    sessions.registry.onIdentityChange((change) => this.identityChanged(change));
  }

  /** A `call` frame (events gateway). Answers later, through the session's outbox; returns at once. */
  call(session: Session, msg: Json): void {
    let frame: CallFrame;
    try {
      frame = parseWith(CallFrame, msg, 'call');
    } catch (err) {
      if (!(err instanceof SchemaError)) throw err;
      const id = CallFrame.shape.id.safeParse(msg.id);
      return this.refuse(session, id.success ? id.data : undefined, undefined, 'bad_frame', err.message);
    }
    const { id, method, params = null } = frame;
    const identity = session.identity;
    const url = this.config.calls.routes.get(method);
    const label = url ? method : 'unknown';
    if (!identity) return this.refuse(session, id, label, 'not_subscribed');
    if (identity.exp !== undefined && identity.exp * 1000 <= Date.now()) return this.refuse(session, id, label, 'token_expired');
    if (this.revocations.revokedLocally(identity)) return this.refuse(session, id, label, 'user_removed');
    if (!url || !this.tokens) return this.refuse(session, id, label, 'unknown_method');
    const key = JSON.stringify(id);
    const calls = this.inFlight.get(session);
    if (calls?.has(key)) return this.refuse(session, id, label, 'bad_frame', 'a call with this id is in flight');
    const { maxPerSession, maxInFlight } = this.config.calls;
    if ((calls?.size ?? 0) >= maxPerSession) return this.refuse(session, id, label, 'too_many_calls', `too many calls in flight (${maxPerSession})`);
    if (this.running >= maxInFlight) return this.refuse(session, id, label, 'too_many_calls', 'too many calls on this instance');

    const controller = new AbortController();
    if (calls) calls.set(key, controller);
    else this.inFlight.set(session, new Map([[key, controller]]));
    this.running++;
    void this.run(session, id, method, url, params, controller.signal).finally(() => {
      this.running--;
      const left = this.inFlight.get(session);
      if (left?.get(key) === controller) {
        left.delete(key);
        if (left.size === 0) this.inFlight.delete(session);
      }
    });
  }

  private async run(session: Session, id: CallId, method: string, url: string, params: unknown, cancel: AbortSignal): Promise<void> {
    const identity = session.identity!;
    const started = process.hrtime.bigint();
    let outcome: CallOutcome;
    try {
      const body = Buffer.from(JSON.stringify({ method, params }));
      const token = await this.tokens!.sign(identity, session.id, method, body);
      outcome = await postCall(url, body, token, { ...this.config.calls, maxJsonDepth: this.config.limits.maxJsonDepth }, cancel);
    } catch (err) {
      if (err instanceof CallCancelled || cancel.aborted) return void this.calls.inc({ method, result: 'call_cancelled' });
      this.log.error(`call ${method} failed: ${(err as Error)?.stack}`);
      outcome = { ok: false, code: 'call_failed', error: 'backend failed' };
    }
    this.duration.observe({ method }, Number(process.hrtime.bigint() - started) / 1e9);
    // Aborted when the session closed or changed hands (identityChanged): then nobody gets it.
    if (cancel.aborted || !session.identity || !this.sessions.registry.get(session.id)) {
      return void this.calls.inc({ method, result: 'call_cancelled' });
    }
    this.calls.inc({ method, result: outcome.ok ? 'ok' : outcome.code });
    if (outcome.ok) return session.reply({ '@type': 'result', id, result: outcome.result });
    this.logOnce(method, outcome.code, outcome.status);
    const { code, error, status, data } = outcome;
    session.reply({ ...errorFrame(code, error), id, ...(status !== undefined && { status }), ...(data !== undefined && { data }) } satisfies CallErrorFrame);
  }

  /**
   * Before the new identity's ack: calls made for the previous one are aborted. A session that
   * is still open hears `call_cancelled` for each (its client stops waiting); one closing hears nothing.
   */
  private identityChanged({ session, previous, narrowed }: IdentityChange): void {
    const calls = this.inFlight.get(session);
    if (!calls || !previous || (session.identity && !narrowed && session.identity.user === previous.user)) return;
    this.inFlight.delete(session);
    const open = session.socket.readyState === session.socket.OPEN;
    for (const [key, controller] of calls) {
      controller.abort();
      if (open) session.reply({ ...errorFrame('call_cancelled'), id: JSON.parse(key) as CallId });
    }
  }

  private refuse(session: Session, id: CallId | undefined, method: string | undefined, code: ErrorCode, text?: string): void {
    if (method) this.calls.inc({ method, result: code });
    session.reply({ ...errorFrame(code, text), ...(id !== undefined && { id }) } satisfies CallErrorFrame);
  }

  private logOnce(method: string, code: string, status?: number): void {
    const key = `${method} ${code} ${status ?? ''}`;
    if (this.logged.has(key) || this.logged.size > 1000) return;
    this.logged.add(key);
    this.log.warn({ msg: 'call failed (logged once per method, code and status; see switchboard_calls_total)', method, code, status });
  }
}
