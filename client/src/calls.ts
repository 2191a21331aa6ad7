/**
 * Calls over the socket (PROTOCOL 9), on the client's side: `client.call(method, params)` sends
 * `{"@type":"call","id",...}` on `/ws` and settles with the `result` or `error` frame of that id.
 *
 * What a call does when things go wrong (as centrifuge-js's `rpc` does, where it has a rule):
 * - made while the session is not live (connecting, offline, backing off): it waits for the
 *   session, within its timeout, and is sent once live; made while the client is stopped for
 *   good (closed, never started, refused with 4403 or a token the provider cannot renew), it
 *   rejects at once, and calls waiting when that happens reject then (`disconnected`);
 * - in flight when the socket goes: rejected with `disconnected`, never sent again (a call is
 *   not idempotent: the backend may have run it);
 * - no answer within `timeoutMs` (default CALL_TIMEOUT_MS): rejected with `call_timeout`;
 * - aborted by its `signal`: rejected at once with `call_cancelled`. The protocol has no cancel
 *   frame: the service still runs the call (and counts it in CALL_MAX_PER_SESSION until it
 *   ends); its late answer is ignored.
 * Every rejection is a CallError with the wire `code`; `local` says the client gave up by itself.
 */
import type { Link, Status } from './connection.js';
import type { CallErrorFrame, CallFrame, CallId, CallResultFrame, ErrorCode } from './protocol.js';

/**
 * Default timeout of a call (ms): the service's default CALL_TIMEOUT_MS (5 s) plus 2 s for its
 * answer to travel, so that the service's own `call_timeout` comes first. Raise it with
 * CALL_TIMEOUT_MS, or per call.
 */
export const CALL_TIMEOUT_MS = 7000;
/** Calls of one client waiting or in flight at once; beyond, a call is refused at once (`too_many_calls`). */
export const MAX_PENDING_CALLS = 256;

export interface CallOptions {
  /** Longest wait for the answer, a wait for the connection included (ms). Default CALL_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Aborting rejects the call at once (`call_cancelled`); the service may still run it (no cancel frame). */
  signal?: AbortSignal;
}

/** Why a call got no result: the wire `code` (PROTOCOL 7, 9), and what the service said with it. */
export class CallError extends Error {
  override readonly name = 'CallError';
  /** The backend's HTTP status, when it answered (`call_refused`, `call_failed`). */
  readonly status?: number;
  /** `call_refused`: the backend's JSON body, when it sent one. */
  readonly data?: unknown;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly method: string,
    /** True when this client gave up (its timeout, an abort, a lost or closed connection, too many calls pending); false when the service answered. */
    readonly local: boolean,
    extra: { status?: number; data?: unknown; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.data !== undefined) this.data = extra.data;
  }
}

interface Pending {
  frame: CallFrame;
  sent: boolean;
  resolve(result: unknown): void;
  reject(error: CallError): void;
  timer: ReturnType<typeof setTimeout>;
  signal?: AbortSignal;
  onAbort?: () => void;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Stopped for good: offline, with no retry planned and not waiting for the network. */
const ended = (status: Status) => status.state === 'offline' && status.retryInMs === undefined && status.reason !== 'offline';

/** The calls of one client: its ids, what waits for the session, what waits for an answer. */
export class Calls {
  private readonly pending = new Map<CallId, Pending>();
  private n = 0;

  /** `prefix`: with shared tabs, the tab's id: every tab's calls travel on one session. */
  constructor(
    private readonly link: Link,
    private readonly prefix?: string,
  ) {}

  call(method: string, params: unknown, options: CallOptions = {}): Promise<unknown> {
    const { signal } = options;
    const timeoutMs = Math.max(0, Math.min(options.timeoutMs ?? CALL_TIMEOUT_MS, 2 ** 31 - 1));
    return new Promise((resolve, reject) => {
      const fail = (code: ErrorCode, message: string, cause?: unknown) => reject(new CallError(code, message, method, true, { cause }));
      if (signal?.aborted) return fail('call_cancelled', 'aborted by the caller', signal.reason);
      if (ended(this.link.status)) return fail('disconnected', `not connected: ${this.link.status.detail ?? this.link.status.reason}`);
      if (this.pending.size >= MAX_PENDING_CALLS) return fail('too_many_calls', `too many calls pending in this client (${MAX_PENDING_CALLS})`);
      let json: unknown;
      try {
        // What the service will see (toJSON applied, undefined dropped); also in a tab whose hub stringifies it.
        json = params === undefined ? null : JSON.parse(JSON.stringify(params));
      } catch (err) {
        return fail('bad_frame', `params are not JSON: ${(err as Error)?.message ?? err}`);
      }
      const id = this.prefix === undefined ? ++this.n : `${this.prefix}:${++this.n}`;
      const entry: Pending = {
        frame: { '@type': 'call', id, method, params: json },
        sent: false,
        resolve,
        reject,
        timer: setTimeout(() => this.settle(id, new CallError('call_timeout', `no answer within ${timeoutMs} ms`, method, true)), timeoutMs),
      };
      if (signal) {
        entry.signal = signal;
        entry.onAbort = () => this.settle(id, new CallError('call_cancelled', 'aborted by the caller', method, true, { cause: signal.reason }));
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.pending.set(id, entry);
      entry.sent = this.link.send(entry.frame);
    });
  }

  /** The session is (again) live: calls made meanwhile go now, in the order they were made. */
  live(): void {
    for (const entry of this.pending.values()) if (!entry.sent) entry.sent = this.link.send(entry.frame);
  }

  /** The socket is gone: calls sent on it will get no answer, and are not sent again. */
  disconnected(): void {
    for (const [id, entry] of this.pending) {
      if (entry.sent) this.settle(id, new CallError('disconnected', 'the connection was lost: the call may have run', entry.frame.method, true));
    }
  }

  /** The `/ws` status changed: stopped for good, every call fails now. */
  status(status: Status): void {
    if (!ended(status)) return;
    for (const [id, entry] of this.pending) this.settle(id, new CallError('disconnected', `not connected: ${status.detail ?? status.reason}`, entry.frame.method, true));
  }

  /**
   * A `/ws` frame that answers a call (`result`, or `error` with an `id`: only calls carry one on
   * `/ws`): settles it, and returns true. A late answer (after a timeout or an abort) is dropped.
   */
  answer(frame: unknown): boolean {
    if (!isObject(frame)) return false;
    const type = frame['@type'];
    if (type !== 'result' && !(type === 'error' && frame.id !== undefined)) return false;
    const id = frame.id as CallId;
    const entry = this.pending.get(id);
    if (!entry) return true;
    if (type === 'result') {
      this.settle(id, (frame as CallResultFrame).result);
    } else {
      const { code, error, status, data } = frame as CallErrorFrame;
      this.settle(id, new CallError(code, String(error), entry.frame.method, false, { status, data }));
    }
    return true;
  }

  private settle(id: CallId, outcome: unknown): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if (entry.onAbort) entry.signal!.removeEventListener('abort', entry.onAbort);
    if (outcome instanceof CallError) entry.reject(outcome);
    else entry.resolve(outcome);
  }
}
