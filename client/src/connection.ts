import { backoffDelay, type BackoffOptions } from './backoff.js';
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
export interface Status {
  state: ConnectionState;
  /** Why the connection is not live (the server's error or close reason), or why it stopped. */
  reason?: string;
  /** The close code that took the connection down, if any. */
  code?: number;
  /** When offline and retrying: the delay before the next attempt (ms). Absent: it will not retry. */
  retryInMs?: number;
}

export interface ConnectionOptions {
  url: string;
  token: TokenProvider;
  WebSocket: WebSocketConstructor;
  backoff?: BackoffOptions;
  random: () => number;
  /** Renew at a fixed point before `expiresAt` of the ack (for `/chat`, which sends no `expiring`). */
  renewBeforeExpiry: boolean;
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
}

/**
 * One endpoint's socket: subscribes on every open, renews the token, reconnects with capped
 * exponential backoff and jitter, and stops for good after 4403, after 4401 when the provider
 * has no new token, or when closed by the caller.
 */
export class Connection {
  status: Status = { state: 'offline', reason: 'not started' };
  private socket?: WebSocketLike;
  private jwt?: string;
  private acked = false;
  private attempt = 0;
  private stopped = true;
  private lastError?: string;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private renewTimer?: ReturnType<typeof setTimeout>;
  private renewing = false;
  private connectSeq = 0;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly hooks: ConnectionHooks,
  ) {}

  get live(): boolean {
    return this.status.state === 'live';
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
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
    this.connectSeq++;
    clearTimeout(this.retryTimer);
    clearTimeout(this.renewTimer);
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.close(1000, 'client closed');
      this.hooks.disconnected();
    }
    this.setStatus({ state: 'offline', reason: 'closed by the client' });
  }

  /** For tests and "reconnect now" buttons: drops the socket as a network failure would. */
  drop(): void {
    this.socket?.close(4000, 'dropped by the client');
  }

  private async connect(jwt?: string): Promise<void> {
    clearTimeout(this.retryTimer);
    const seq = ++this.connectSeq;
    this.setStatus({ state: 'connecting', reason: this.status.reason, code: this.status.code });
    if (jwt === undefined) {
      try {
        jwt = await this.options.token();
      } catch (err) {
        if (seq === this.connectSeq && !this.stopped) this.retry(`token provider failed: ${(err as Error)?.message ?? err}`);
        return;
      }
    }
    if (seq !== this.connectSeq || this.stopped) return; // closed, or superseded, while the provider worked
    this.jwt = jwt;
    this.acked = false;
    this.lastError = undefined;
    const socket = new this.options.WebSocket(this.options.url);
    this.socket = socket;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      socket.send(JSON.stringify({ '@type': 'subscribe', jwt, ...this.hooks.subscribeExtras?.() }));
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
      void this.closed(ev.code, ev.reason);
    };
  }

  private received(frame: unknown): void {
    const type = typeof frame === 'object' && frame !== null ? (frame as Record<string, unknown>)['@type'] : undefined;
    if (type === 'subscribed') {
      const ack = frame as SubscribedFrame;
      const first = !this.acked;
      this.acked = true;
      this.attempt = 0;
      this.scheduleRenewal(ack.expiresAt);
      if (first) this.setStatus({ state: 'live' });
      this.hooks.subscribed(ack, first);
      return;
    }
    if (type === 'expiring') return void this.renew();
    if (type === 'error') this.lastError = String((frame as Record<string, unknown>).error);
    this.hooks.frame(frame);
  }

  /** Sends `subscribe` again on the same socket with a fresh token: lossless (PROTOCOL 2). */
  private async renew(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    try {
      const jwt = await this.options.token();
      if (jwt !== this.jwt && this.socket && this.acked) {
        this.jwt = jwt;
        this.socket.send(JSON.stringify({ '@type': 'subscribe', jwt }));
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

  private async closed(code: number, closeReason: string): Promise<void> {
    clearTimeout(this.renewTimer);
    this.acked = false;
    this.hooks.disconnected();
    if (this.stopped) return;
    const reason = this.lastError ?? (closeReason || `closed (${code})`);
    if (code === CloseCode.forbidden) return this.giveUp(reason, code);
    if (code === CloseCode.unauthenticated) {
      let fresh: string | undefined;
      try {
        fresh = await this.options.token();
      } catch {
        fresh = undefined;
      }
      if (this.stopped) return;
      if (fresh === undefined || fresh === this.jwt) return this.giveUp(reason, code);
      return this.retry(reason, code, fresh);
    }
    this.retry(reason, code);
  }

  private giveUp(reason: string, code?: number): void {
    this.stopped = true;
    this.setStatus({ state: 'offline', reason, code });
  }

  private retry(reason: string, code?: number, jwt?: string): void {
    const delay = backoffDelay(this.attempt++, this.options.random, this.options.backoff);
    this.setStatus({ state: 'offline', reason, code, retryInMs: delay });
    this.retryTimer = setTimeout(() => void this.connect(jwt), delay);
  }

  private setStatus(status: Status): void {
    this.status = status;
    this.hooks.status(status);
  }
}
