import { backoffDelay, retryHint, type BackoffOptions } from './backoff.js';
import { CloseCode, type SubscribedFrame } from './protocol.js';

/** The part of the platform WebSocket the client uses (browsers, Node 22+, or the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** A token, or a promise of one. Called on every connect, on renewal, and after a 4401. */
export type TokenProvider = () => string | Promise<string>;

export type ConnectionState = 'connecting' | 'live' | 'offline';

/**
 * Why a connection is not live:
 * - `offline`: the browser says it has no network (it reconnects at once on `online`);
 * - `unreachable`: the service could not be reached, or stopped answering (no ping in time);
 * - `token`: the token provider failed, or the server refused the token (4401);
 * - `closed by server`: the server closed the socket (`code` says why: 1001 restart, 4403, 4008, 4429...);
 * - `stopped`: `close()` was called, or the client was never started.
 */
export type StatusReason = 'offline' | 'unreachable' | 'token' | 'closed by server' | 'stopped';

export interface Status {
  state: ConnectionState;
  /** Why the connection is not live (kept while `connecting` again). */
  reason?: StatusReason;
  /** The close code when the server closed the socket. */
  code?: number;
  /** What the server or the provider said: an error frame's text, a close reason, an exception's message. */
  detail?: string;
  /** When offline and retrying: the delay before the next attempt (ms). Absent: it waits (for `online`, or for good). */
  retryInMs?: number;
}

/** A status as one line for people: `offline: closed by server (4403): user removed`. */
export function describeStatus(status: Status): string {
  if (status.state === 'live' || !status.reason) return status.state;
  const code = status.reason === 'closed by server' && status.code !== undefined ? ` (${status.code})` : '';
  const detail = status.detail ? `: ${status.detail}` : '';
  const retry = status.retryInMs !== undefined ? `, retry in ${Math.ceil(status.retryInMs / 1000)} s` : '';
  return `${status.state}: ${status.reason}${code}${detail}${retry}`;
}

export interface ConnectionOptions {
  url: string;
  token: TokenProvider;
  WebSocket: WebSocketConstructor;
  backoff?: BackoffOptions;
  random: () => number;
  /** Renew at a fixed point before `expiresAt` of the ack (for `/chat`, which sends no `expiring`). */
  renewBeforeExpiry: boolean;
  /** Ask for the visible heartbeat (ext PROTOCOL 2.1) and declare the socket dead when it stops. */
  heartbeat: boolean;
  /** How long after the announced ping interval a silent socket is declared dead (ms). */
  livenessMarginMs?: number;
  /** How long a socket may take from creation to its `subscribed` ack (ms). */
  connectTimeoutMs: number;
  /** False when the platform knows it has no network (`navigator.onLine`). */
  onLine: () => boolean;
  /** Set when the platform cannot connect at all (server-side rendering): `start()` only says so. */
  unavailable?: string;
}

export interface ConnectionHooks {
  /** Extra fields of the subscribe sent when a socket opens (resumeFrom). */
  subscribeExtras?(): Record<string, string>;
  /** `first`: the first ack on this socket (a new session); false: a renewal's ack. */
  subscribed(frame: SubscribedFrame, first: boolean): void;
  frame(frame: unknown): void;
  /** The socket is gone (whatever comes next). */
  disconnected(): void;
  status(status: Status): void;
  /** Shared connections only: a frame for another tab passed with this `@offset` (the position moves on). */
  skipped?(offset: string): void;
  /** Shared connections only: this tab cannot have what was delivered while it was away. */
  missed?(reason: string): void;
}

/**
 * One endpoint as the client uses it: a `Connection` (its own socket), or a tab's share of the
 * connection another tab holds (./tabs.ts). Same calls, same hooks.
 */
export interface Link {
  readonly status: Status;
  readonly live: boolean;
  start(): void;
  retryNow(): void;
  send(frame: unknown): boolean;
  stop(): void;
  drop(): void;
  offline(): void;
  online(): void;
  visible(): void;
}

/** A close we make ourselves: the reason the status shows. */
const OWN_CLOSE = 4000;

/**
 * One endpoint's socket: subscribes on every open, renews the token, watches liveness (the
 * server's `ping` frames, the browser's offline / online events), reconnects with full-jitter
 * backoff or after the server's hint, and stops for good after 4403, after 4401 when the
 * provider has no new token, or when closed by the caller.
 */
export class Connection implements Link {
  status: Status = { state: 'offline', reason: 'stopped', detail: 'not started' };
  private socket?: WebSocketLike;
  private jwt?: string;
  private acked = false;
  private attempt = 0;
  private stopped = true;
  /** Waiting for the browser's `online` (no timer). */
  private paused = false;
  private lastError?: string;
  /** Why we closed the current socket ourselves, if we did. */
  private ownClose?: { reason: StatusReason; detail: string };
  private retryTimer?: ReturnType<typeof setTimeout>;
  private renewTimer?: ReturnType<typeof setTimeout>;
  private deadTimer?: ReturnType<typeof setTimeout>;
  /** Silence allowed on a live socket before it is declared dead (ms); undefined: no heartbeat. */
  private deadAfterMs?: number;
  private lastFrameAt = 0;
  private renewing = false;
  private connectSeq = 0;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly hooks: ConnectionHooks,
  ) {}

  get live(): boolean {
    return this.status.state === 'live';
  }

  get started(): boolean {
    return !this.stopped;
  }

  start(): void {
    if (!this.stopped) return;
    if (this.options.unavailable) return this.setStatus({ state: 'offline', reason: 'stopped', detail: this.options.unavailable });
    this.stopped = false;
    this.attempt = 0;
    if (!this.options.onLine()) return this.pause();
    void this.connect();
  }

  /** "Retry now": starts a stopped connection, or cuts a wait (backoff, offline) short. */
  retryNow(): void {
    if (this.stopped) return this.start();
    if (this.socket || this.status.state === 'connecting') return;
    this.paused = false;
    void this.connect();
  }

  /** Sends a frame when the session is live; returns false (and sends nothing) otherwise. */
  send(frame: unknown): boolean {
    if (!this.socket || !this.acked) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Closes for good (1000): no reconnect. */
  stop(): void {
    this.stopped = true;
    this.paused = false;
    this.connectSeq++;
    this.clearTimers();
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.close(1000, 'client closed');
      this.hooks.disconnected();
    }
    this.setStatus({ state: 'offline', reason: 'stopped', detail: 'closed by the client' });
  }

  /** For tests: drops the socket as a network failure would. */
  drop(): void {
    this.closeOwn('unreachable', 'dropped by the client');
  }

  /** The browser went offline: close now, and wait for `online` instead of retrying blind. */
  offline(): void {
    if (this.stopped) return;
    this.connectSeq++; // a connect still asking the provider gives up
    if (this.socket) this.closeOwn('offline', 'the browser is offline');
    else this.pause();
  }

  /** The browser is back online: reconnect at once. */
  online(): void {
    if (this.stopped || this.socket) return;
    this.attempt = 0;
    this.retryNow();
  }

  /** The page became visible again: reconnect at once if waiting, or if the socket went silent meanwhile. */
  visible(): void {
    if (this.stopped) return;
    if (!this.socket) return this.retryNow();
    if (this.acked && this.deadAfterMs !== undefined && Date.now() - this.lastFrameAt > this.deadAfterMs) {
      this.closeOwn('unreachable', 'no ping from the server in time');
    }
  }

  private pause(): void {
    clearTimeout(this.retryTimer);
    this.paused = true;
    this.setStatus({ state: 'offline', reason: 'offline', detail: 'the browser is offline' });
  }

  private closeOwn(reason: StatusReason, detail: string): void {
    if (!this.socket) return;
    this.ownClose = { reason, detail };
    const socket = this.socket;
    // Handled now, not when the close handshake ends: an offline browser may never finish it.
    this.socket = undefined;
    socket.onclose = null;
    try {
      socket.close(OWN_CLOSE, detail.slice(0, 100));
    } catch {
      // already closing
    }
    void this.closed(OWN_CLOSE, detail, false);
  }

  private async connect(jwt?: string): Promise<void> {
    clearTimeout(this.retryTimer);
    this.paused = false;
    const seq = ++this.connectSeq;
    const { reason, code, detail } = this.status.reason === 'stopped' ? {} : this.status;
    this.setStatus({ state: 'connecting', reason, code, detail });
    if (jwt === undefined) {
      try {
        jwt = await this.options.token();
      } catch (err) {
        if (seq !== this.connectSeq || this.stopped) return;
        // fetch() rejects with a TypeError when the network fails: that is not a token problem.
        const reason: StatusReason = !this.options.onLine() ? 'offline' : err instanceof TypeError ? 'unreachable' : 'token';
        if (reason === 'offline') return this.pause();
        this.retry({ reason, detail: `token provider: ${(err as Error)?.message ?? err}` });
        return;
      }
    }
    if (seq !== this.connectSeq || this.stopped) return; // closed, or superseded, while the provider worked
    this.jwt = jwt;
    this.acked = false;
    this.lastError = undefined;
    this.ownClose = undefined;
    let socket: WebSocketLike;
    try {
      socket = new this.options.WebSocket(this.options.url);
    } catch (err) {
      return this.retry({ reason: 'unreachable', detail: String((err as Error)?.message ?? err) });
    }
    this.socket = socket;
    let opened = false;
    // Until the ack: a socket that hangs (a network that drops packets) counts as unreachable.
    this.armDead(this.options.connectTimeoutMs, 'no answer from the service');
    socket.onopen = () => {
      if (socket !== this.socket) return;
      opened = true;
      const heartbeat = this.options.heartbeat ? { heartbeat: true } : {};
      socket.send(JSON.stringify({ '@type': 'subscribe', jwt, ...heartbeat, ...this.hooks.subscribeExtras?.() }));
    };
    socket.onmessage = (ev) => {
      if (socket !== this.socket || typeof ev.data !== 'string') return;
      let frame: unknown;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return; // not JSON: nothing a handler could use
      }
      this.received(frame);
    };
    socket.onerror = () => {}; // a close follows, with the code
    socket.onclose = (ev) => {
      if (socket !== this.socket) return;
      this.socket = undefined;
      void this.closed(ev.code, ev.reason, opened);
    };
  }

  private received(frame: unknown): void {
    this.lastFrameAt = Date.now();
    if (this.acked && this.deadAfterMs !== undefined) this.armDead(this.deadAfterMs, 'no ping from the server in time');
    const type = typeof frame === 'object' && frame !== null ? (frame as Record<string, unknown>)['@type'] : undefined;
    if (type === 'ping') return; // its arrival was the point
    if (type === 'subscribed') {
      const ack = frame as SubscribedFrame;
      const first = !this.acked;
      this.acked = true;
      this.attempt = 0;
      this.scheduleRenewal(ack.expiresAt);
      const interval = this.options.heartbeat ? ack.pingIntervalMs : undefined;
      this.deadAfterMs = interval === undefined ? undefined : interval + (this.options.livenessMarginMs ?? Math.max(1000, Math.min(10_000, interval / 5)));
      if (this.deadAfterMs !== undefined) this.armDead(this.deadAfterMs, 'no ping from the server in time');
      else clearTimeout(this.deadTimer);
      if (first) this.setStatus({ state: 'live' });
      this.hooks.subscribed(ack, first);
      return;
    }
    if (type === 'expiring') return void this.renew();
    // An error answering a request (a call, a post: it has an id) is not why a socket closes.
    if (type === 'error' && (frame as Record<string, unknown>).id === undefined) this.lastError = String((frame as Record<string, unknown>).error);
    this.hooks.frame(frame);
  }

  private armDead(ms: number, detail: string): void {
    clearTimeout(this.deadTimer);
    this.deadTimer = setTimeout(() => this.closeOwn('unreachable', detail), Math.min(ms, 2 ** 31 - 1));
  }

  /** Sends `subscribe` again on the same socket with a fresh token: lossless (PROTOCOL 2). */
  private async renew(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    try {
      const jwt = await this.options.token();
      if (jwt !== this.jwt && this.socket && this.acked) {
        this.jwt = jwt;
        this.socket.send(JSON.stringify({ '@type': 'subscribe', jwt, ...(this.options.heartbeat ? { heartbeat: true } : {}) }));
      }
    } catch {
      // No fresh token now: the server closes 4401 at expiry, and that path asks again.
    } finally {
      this.renewing = false;
    }
  }

  private scheduleRenewal(expiresAt: number | undefined): void {
    clearTimeout(this.renewTimer);
    if (!this.options.renewBeforeExpiry || expiresAt === undefined) return;
    const left = expiresAt * 1000 - Date.now();
    // 60 s before expiry, or half-way for short tokens (what the server does on /ws).
    const wait = Math.max(0, left - Math.min(60_000, left / 2));
    this.renewTimer = setTimeout(() => void this.renew(), Math.min(wait, 2 ** 31 - 1));
  }

  private async closed(code: number, closeReason: string, opened: boolean): Promise<void> {
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadTimer);
    this.acked = false;
    this.hooks.disconnected();
    if (this.stopped) return;
    const own = code === OWN_CLOSE ? this.ownClose : undefined;
    this.ownClose = undefined;
    if (own?.reason === 'offline' || !this.options.onLine()) return this.pause();
    if (own) return this.retry(own);
    const detail = this.lastError ?? closeReason;
    // 1006 (no close frame) or a socket that never opened: the service is not there.
    if (code === 1006 || code === 1015 || !opened) return this.retry({ reason: 'unreachable', code: opened ? code : undefined, detail: detail || 'the service cannot be reached' });
    const byServer = { reason: 'closed by server' as const, code, detail };
    if (code === CloseCode.forbidden) return this.giveUp(byServer);
    if (code === CloseCode.unauthenticated) {
      let fresh: string | undefined;
      try {
        fresh = await this.options.token();
      } catch {
        fresh = undefined;
      }
      if (this.stopped) return;
      const refused = { reason: 'token' as const, code, detail };
      if (fresh === undefined || fresh === this.jwt) return this.giveUp(refused);
      return this.retry(refused, fresh);
    }
    // A restart (1001, 1012) may say when to come back: spread over its window, plus our own jitter.
    const hint = code === CloseCode.shuttingDown || code === 1012 ? retryHint(closeReason) : undefined;
    this.retry(byServer, undefined, hint);
  }

  private giveUp(status: Omit<Status, 'state'>): void {
    this.stopped = true;
    this.setStatus({ state: 'offline', ...status });
  }

  private retry(status: Omit<Status, 'state'>, jwt?: string, hintMs?: number): void {
    const initial = this.options.backoff?.initialMs ?? 500;
    const attempt = this.attempt++;
    const delay = hintMs !== undefined ? hintMs + Math.round(initial * this.options.random()) : backoffDelay(attempt, this.options.random, this.options.backoff);
    this.setStatus({ state: 'offline', ...status, retryInMs: delay });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(jwt), delay);
  }

  private clearTimers(): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadTimer);
  }

  private setStatus(status: Status): void {
    this.status = status;
    this.hooks.status(status);
  }
}
