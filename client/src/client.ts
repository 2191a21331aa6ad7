import type { BackoffOptions } from './backoff.js';
import { Calls, type CallOptions } from './calls.js';
import { ChatClient, HEARTBEAT_MS } from './chat.js';
import { Connection, type ConnectionHooks, type ConnectionOptions, type Link, type Status, type TokenProvider, type WebSocketConstructor } from './connection.js';
import { Listeners } from './listeners.js';
import { classifyEventsFrame, type ActivityEvent, type IdmEvent, type NodeEvent, type PushPayload, type RoomAnswer, type SubscribedFrame, type TaskEvent } from './protocol.js';
import type { Sharing, TabGroup, TabShare } from './tabs.js';

export interface SwitchboardOptions {
  /** The service's origin: `https://push.example.com`, `ws://127.0.0.1:5050`. Default: the page's origin. */
  url?: string;
  /** Gives the JWT; called on every connect, on renewal, and after a 4401. */
  token: TokenProvider;
  /** Default: the platform's `WebSocket` (browsers, Node 22+). */
  WebSocket?: WebSocketConstructor;
  backoff?: BackoffOptions;
  /** [0, 1) source for the backoff jitter. Default `Math.random`. */
  random?: () => number;
  /** After a reconnect with `resumeFrom`, how long the client waits for `resumed` before it resets (ms; default 20 s, above the service's HISTORY_REPLAY_TIMEOUT_MS of 15 s, so that its answer comes first). */
  resumeTimeoutMs?: number;
  /** Chat heartbeat period (ms); the server's presence timeout is 20 s. */
  heartbeatMs?: number;
  /** Chat history page size. */
  pageSize?: number;
  /**
   * Connect in the constructor. Default: true in a browser (a `document` exists), false elsewhere,
   * so that a client made at module scope opens nothing during server-side rendering; call `connect()`.
   */
  autoConnect?: boolean;
  /**
   * Ask the server for a visible ping (ext PROTOCOL 2.1) and declare a socket dead when none comes
   * within the announced interval plus `livenessMarginMs`. Default true.
   */
  heartbeat?: boolean;
  /** Silence allowed beyond the server's ping interval (ms). Default: a fifth of it, 1 to 10 s. */
  livenessMarginMs?: number;
  /** Longest wait from opening a socket to the server's `subscribed` ack (ms). Default 10 000. */
  connectTimeoutMs?: number;
  /** A page hidden this long (ms) is checked at once when shown again (reconnect if waiting or silent). Default 30 000. */
  hiddenCheckMs?: number;
  /**
   * `shareTabs()`: one pair of sockets for all the tabs of the browser whose tokens carry the same
   * identity (one tab holds them, the others get their frames through it; see tabs.ts). Each
   * tab keeps its own push target (`session.sessionId`, PROTOCOL 5.1), rooms and posts. Where the
   * browser cannot share (no Web Locks or BroadcastChannel, server-side rendering) the client
   * has its own sockets, as without it. Default: none (every client its own sockets).
   */
  share?: Sharing;
}

/** The status of the client: the worse of `/ws` and (once a room was joined) `/chat`, and each one's. */
export interface SwitchboardStatus extends Status {
  endpoints: { events: Status; chat: Status };
  /** With `share`: whether this tab holds the sockets, and how many tabs share them. */
  shared?: TabShare;
}

type Events = {
  node: [NodeEvent];
  task: [TaskEvent];
  idm: [IdmEvent];
  activity: [ActivityEvent];
  push: [PushPayload];
  room: [RoomAnswer];
  /** Events may have been missed (a reconnect that could not resume): reload what you show. */
  reset: [string];
  status: [SwitchboardStatus];
  subscribed: [SubscribedFrame];
};

/** What the client remembers of a resume in progress on the current socket. */
type Resume = { state: 'none' } | { state: 'pending'; acked: boolean; timer?: ReturnType<typeof setTimeout> };

/**
 * The Switchboard client: events on `/ws` (typed handlers, push rooms, resume), chat on `/chat`
 * (`client.chat`), one status. No dependency beyond the platform's WebSocket.
 */
export class Switchboard {
  readonly chat: ChatClient;
  /** The last `@offset` seen: where a reconnect resumes from (PROTOCOL 6). */
  lastOffset?: string;
  /** The server's `subscribed` ack of the current session. */
  session?: SubscribedFrame;
  private readonly connection: Link;
  private readonly calls: Calls;
  private readonly group?: TabGroup;
  private readonly listeners = new Listeners<Events>();
  private readonly rooms = new Map<string, number>();
  private readonly resumeTimeoutMs: number;
  private resume: Resume = { state: 'none' };
  private sessions = 0;

  private combined: SwitchboardStatus;
  private readonly unwatch: () => void;

  /** Never throws: on a platform without WebSocket or page origin (server-side rendering) it stays offline. */
  constructor(options: SwitchboardOptions) {
    const g = globalThis as { location?: { origin: string }; WebSocket?: WebSocketConstructor; navigator?: { onLine?: boolean } };
    const origin = options.url ?? g.location?.origin;
    const WebSocket = options.WebSocket ?? g.WebSocket;
    const unavailable = !origin ? 'no url given and no page origin' : !WebSocket ? 'no WebSocket on this platform: pass one in the options' : undefined;
    const base = {
      token: options.token,
      WebSocket: WebSocket ?? (Unavailable as unknown as WebSocketConstructor),
      backoff: options.backoff,
      random: options.random ?? Math.random,
      heartbeat: options.heartbeat !== false,
      livenessMarginMs: options.livenessMarginMs,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      onLine: () => g.navigator?.onLine !== false,
      unavailable,
    };
    const endpoint = (path: string): ConnectionOptions['url'] => {
      if (!origin) return '';
      const url = new URL(path, origin);
      url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
      return url.toString();
    };
    this.resumeTimeoutMs = options.resumeTimeoutMs ?? 20_000;
    const events: ConnectionOptions = { ...base, url: endpoint('/ws'), renewBeforeExpiry: false };
    const chat: ConnectionOptions = { ...base, url: endpoint('/chat'), renewBeforeExpiry: true };
    const group = unavailable
      ? undefined
      : options.share?.group({
          url: events.url,
          token: options.token,
          connect: (ep, hooks, token) => new Connection({ ...(ep === 'ws' ? events : chat), token }, hooks),
          changed: () => this.statusChanged(),
          random: base.random,
          backoff: options.backoff,
          onLine: base.onLine,
        });
    this.group = group;
    const hooks: ConnectionHooks = {
      subscribeExtras: () => this.subscribeExtras(),
      subscribed: (ack, first) => this.subscribed(ack, first),
      frame: (frame) => this.frame(frame),
      disconnected: () => {
        this.endResume();
        this.calls.disconnected();
      },
      status: (status) => {
        this.calls.status(status);
        this.statusChanged();
      },
      skipped: (offset) => this.offsetSeen(offset),
      missed: (reason) => this.listeners.emit('reset', reason),
    };
    this.connection = group ? group.link('ws', hooks) : new Connection(events, hooks);
    // Shared tabs call on one session: each tab's ids carry its id (the hub sends each answer to its tab).
    this.calls = new Calls(this.connection, group?.id);
    this.chat = new ChatClient(chat, options.heartbeatMs ?? HEARTBEAT_MS, options.pageSize, group && ((chatHooks) => group.link('chat', chatHooks)));
    this.combined = this.combine();
    this.chat.on('status', () => this.statusChanged());
    this.unwatch = watchPlatform(
      {
        offline: () => this.each((c) => c.offline()),
        online: () => this.each((c) => c.online()),
        visible: () => this.each((c) => c.visible()),
      },
      options.hiddenCheckMs ?? 30_000,
    );
    if (options.autoConnect ?? typeof (globalThis as { document?: unknown }).document !== 'undefined') this.connect();
  }

  /** One status for both endpoints (`endpoints` has each); the same object until something changes. */
  get status(): SwitchboardStatus {
    return this.combined;
  }

  /** Connects; when a connection waits (backoff, offline, a server's retry hint) it means "retry now". */
  connect(): void {
    this.connection.retryNow();
    this.chat.retryNow();
  }

  on<K extends keyof Events>(kind: K, fn: (...args: Events[K]) => void): () => void {
    return this.listeners.on(kind, fn);
  }

  /** Joins a push room (PROTOCOL 5), again after every reconnect; reference-counted with `leaveRoom`. */
  joinRoom(room: string): void {
    const refs = this.rooms.get(room);
    this.rooms.set(room, (refs ?? 0) + 1);
    // 0 references but still present: a leave is pending (StrictMode re-mount), the server still has it.
    if (refs === undefined) this.connection.send({ '@type': 'joinRoom', room });
  }

  /** The last `leaveRoom` for a room sends it a tick later, unless it was joined again meanwhile. */
  leaveRoom(room: string): void {
    const refs = this.rooms.get(room);
    if (!refs) return;
    this.rooms.set(room, refs - 1);
    queueMicrotask(() => {
      if (this.rooms.get(room) !== 0) return;
      this.rooms.delete(room);
      this.connection.send({ '@type': 'leaveRoom', room });
    });
  }

  /**
   * Calls `method` on the backend CALL_ROUTES gives it (PROTOCOL 9), through the `/ws` session,
   * as the session's verified identity; resolves with the backend's JSON answer, rejects with a
   * `CallError` carrying the wire `code` (`status` and `data` when the backend answered). Made
   * while not live, it waits for the session within `timeoutMs` (default CALL_TIMEOUT_MS, 7 s);
   * in flight when the connection drops, it rejects with `disconnected` and is never sent again;
   * `signal` rejects it at once (`call_cancelled`; the service still runs it). `T` is not checked.
   */
  call<T = unknown>(method: string, params?: unknown, options?: CallOptions): Promise<T> {
    return this.calls.call(method, params, options) as Promise<T>;
  }

  /** Push rooms held now. */
  get joinedRooms(): string[] {
    return [...this.rooms.keys()];
  }

  /** Drops the `/ws` socket as a network failure would (tests, a "reconnect" button). */
  drop(): void {
    this.connection.drop();
  }

  /** Closes both sockets for good. */
  close(): void {
    this.unwatch();
    this.endResume();
    this.connection.stop();
    this.chat.close();
  }

  private each(fn: (c: { offline(): void; online(): void; visible(): void }) => void): void {
    fn(this.connection);
    fn(this.chat);
  }

  private statusChanged(): void {
    const next = this.combine();
    if (JSON.stringify(next) === JSON.stringify(this.combined)) return;
    this.combined = next;
    this.listeners.emit('status', next);
  }

  /** The worse of the endpoints in use: offline over connecting over live; `/ws` first on a tie. */
  private combine(): SwitchboardStatus {
    const events = this.connection.status;
    const chat = this.chat.status;
    const used = this.chat.inUse ? [events, chat] : [events];
    const worst = used.find((s) => s.state === 'offline') ?? used.find((s) => s.state === 'connecting') ?? events;
    return { ...worst, endpoints: { events, chat }, ...(this.group && { shared: this.group.share }) };
  }

  private subscribeExtras(): Record<string, string> {
    if (this.lastOffset === undefined) return {};
    this.resume = { state: 'pending', acked: false };
    return { resumeFrom: this.lastOffset };
  }

  private subscribed(ack: SubscribedFrame, first: boolean): void {
    this.session = ack;
    if (first) {
      const reconnect = this.sessions++ > 0;
      for (const room of this.rooms.keys()) this.connection.send({ '@type': 'joinRoom', room });
      if (this.resume.state === 'pending') {
        // Either order works: `resumed` may already have come (then state is 'none'), or comes after the replay.
        this.resume.acked = true;
        this.armResumeTimer();
      } else if (reconnect && this.lastOffset === undefined) {
        this.listeners.emit('reset', 'reconnected with no offset to resume from');
      }
      // Where the stream stood as the session went live: a drop before the first event resumes from it.
      if (this.resume.state !== 'pending' && this.lastOffset === undefined && typeof ack['@offset'] === 'string') this.lastOffset = ack['@offset'];
    }
    this.calls.live();
    this.listeners.emit('subscribed', ack);
  }

  private frame(raw: unknown): void {
    if (this.calls.answer(raw)) return;
    const classified = classifyEventsFrame(raw);
    if (classified.kind === 'resumed') {
      const pending = this.resume.state === 'pending';
      this.endResume();
      const why = classified.frame.reason ? ` (${classified.frame.reason})` : '';
      if (pending && !classified.frame.recovered) this.listeners.emit('reset', `the server could not resume${why}`);
      return;
    }
    if (classified.kind === 'subscribed' || classified.kind === 'expiring' || classified.kind === 'error') return;
    const offset = (raw as { '@offset'?: unknown })?.['@offset'];
    if (typeof offset === 'string') {
      this.offsetSeen(offset);
    } else if (this.resume.state === 'pending' && this.resume.acked && ['node', 'task', 'activity'].includes(classified.kind)) {
      // A live event without an offset after the ack: this server does not resume.
      this.endResume();
      this.listeners.emit('reset', 'the server does not resume');
    }
    switch (classified.kind) {
      case 'room':
        if (!classified.frame.joined && classified.frame.reason && classified.frame.room) this.rooms.delete(classified.frame.room);
        return this.listeners.emit('room', classified.frame);
      default:
        return this.listeners.emit(classified.kind, classified.frame as never);
    }
  }

  /** A frame passed at this offset (for this tab, or with `share` for another tab). */
  private offsetSeen(offset: string): void {
    this.lastOffset = offset;
    if (this.resume.state === 'pending' && this.resume.acked) this.armResumeTimer(); // replay in progress
  }

  /** No `resumed` within the timeout after the ack (or after the last replayed frame): reset. */
  private armResumeTimer(): void {
    if (this.resume.state !== 'pending') return;
    clearTimeout(this.resume.timer);
    this.resume.timer = setTimeout(() => {
      this.endResume();
      this.listeners.emit('reset', 'no resumed frame: the server did not resume');
    }, this.resumeTimeoutMs);
  }

  private endResume(): void {
    if (this.resume.state === 'pending') clearTimeout(this.resume.timer);
    this.resume = { state: 'none' };
  }
}

/** Stands in for a missing platform WebSocket; never constructed (the connections refuse to start). */
class Unavailable {
  constructor() {
    throw new Error('no WebSocket on this platform');
  }
}

/**
 * The browser's network and visibility events, when there are any: `offline`/`online` on the
 * window, and `visibilitychange` to visible after the page was hidden for `hiddenCheckMs`.
 */
function watchPlatform(on: { offline(): void; online(): void; visible(): void }, hiddenCheckMs: number): () => void {
  type Target = { addEventListener(type: string, fn: () => void): void; removeEventListener(type: string, fn: () => void): void };
  const g = globalThis as { addEventListener?: Target['addEventListener']; removeEventListener?: Target['removeEventListener']; document?: Target & { visibilityState?: string } };
  if (typeof g.addEventListener !== 'function' || typeof g.removeEventListener !== 'function') return () => {};
  const win = g as Target;
  const doc = g.document;
  let hiddenAt: number | undefined;
  const offline = () => on.offline();
  const online = () => on.online();
  const visibility = () => {
    if (doc?.visibilityState === 'hidden') hiddenAt = Date.now();
    else if (hiddenAt !== undefined) {
      const hiddenFor = Date.now() - hiddenAt;
      hiddenAt = undefined;
      if (hiddenFor >= hiddenCheckMs) on.visible();
    }
  };
  win.addEventListener('offline', offline);
  win.addEventListener('online', online);
  doc?.addEventListener('visibilitychange', visibility);
  return () => {
    win.removeEventListener('offline', offline);
    win.removeEventListener('online', online);
    doc?.removeEventListener('visibilitychange', visibility);
  };
}
