/**
 * One connection per browser for all the tabs of one identity: `new Switchboard({ token, share: shareTabs() })`.
 *
 * The tabs whose tokens carry the same identity (every claim equal but the times: `exp`, `iat`,
 * `nbf`, `jti`, `auth_time`) for the same service form a group. One of them, the hub, holds the
 * `/ws` and `/chat` sockets (./hub.ts); every tab, the hub's included, talks to it over a
 * `BroadcastChannel` and gets the frames it would have got from its own socket. Tabs of another
 * user, or of the same user with other rights, are another group: they never share.
 *
 * The hub is whoever holds the group's Web Lock. The browser gives a lock back when its tab
 * closes, crashes or is discarded, and hands it to the next tab waiting: no timer decides that.
 * A hub that stops answering (a tab frozen, or blocked by a long task) is asked by the others
 * (`probe`); with no answer within `probeMs` a tab takes the lock over (`steal`). A hub resigns
 * on `freeze` and `pagehide`. Every message of a hub carries its term; tabs ignore an older
 * hub's, so a deposed hub that wakes up delivers nothing twice. A new hub resumes the stream
 * (PROTOCOL 6) from the newest position any tab reported.
 *
 * Why not a SharedWorker: Chrome on Android has none, and a worker needs a script URL of its own
 * that every bundler handles differently. BroadcastChannel and Web Locks are in Chromium,
 * Firefox and Safari 15.4+, need nothing but this file, and Chromium does not freeze a tab that
 * holds a Web Lock. Where either is missing (Node, server-side rendering, a page served over
 * plain http other than localhost: Web Locks need a secure context) each client keeps its own
 * sockets, as without `share`.
 */
import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { ConnectionHooks, Link, Status, StatusReason, TokenProvider } from './connection.js';
import { Hub, compareTerms, type Endpoint, type HubMessage, type Position, type TabBody, type TabMessage, type Term } from './hub.js';

export interface ShareOptions {
  /**
   * A tab that has heard nothing from the hub for this long asks it; with no answer for as long
   * again, it takes the connection over (ms). Default 2000.
   */
  probeMs?: number;
}

/** @internal What a Switchboard gives its group. */
export interface GroupSetup {
  /** The service's `/ws` URL: tabs of two services never share. */
  url: string;
  token: TokenProvider;
  /** A socket of this tab's own for one endpoint, getting its tokens from `token`. */
  connect(ep: Endpoint, hooks: ConnectionHooks, token: TokenProvider): Link;
  /** The share in the status changed (leader, tabs). */
  changed(): void;
  random: () => number;
  backoff?: BackoffOptions;
  onLine(): boolean;
}

/** The `share` option: made by `shareTabs()`. */
export interface Sharing {
  /** @internal undefined where tabs cannot share: each client then has its own sockets. */
  group(setup: GroupSetup): TabGroup | undefined;
}

/** How a tab shares (what the status shows). */
export interface TabShare {
  /** This tab holds the sockets. */
  leader: boolean;
  /** Tabs in the group, this one included (0 until the hub has answered). */
  tabs: number;
}

interface Channel {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((ev: { data: unknown }) => void) | null;
}
type ChannelConstructor = new (name: string) => Channel;
interface Locks {
  request(name: string, options: { signal?: AbortSignal; steal?: boolean }, granted: () => Promise<void> | void): Promise<unknown>;
}

/** One connection for the tabs of one identity, where the browser allows it (see the top of this file). */
export function shareTabs(options: ShareOptions = {}): Sharing {
  return {
    group(setup) {
      const g = globalThis as unknown as { BroadcastChannel?: ChannelConstructor; navigator?: { locks?: Locks }; origin?: string };
      const locks = g.navigator?.locks;
      // An opaque origin (a sandboxed frame, a data: URL) has no locks to share with anyone.
      return g.BroadcastChannel && locks && g.origin !== 'null' ? new TabGroup(setup, locks, g.BroadcastChannel, options.probeMs ?? 2000) : undefined;
    },
  };
}

const TIME_CLAIMS = ['exp', 'iat', 'nbf', 'jti', 'auth_time'];
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * What tabs must have in common to share: the service, and the token's claims but its times
 * (keys sorted). A token that is not a readable JWT is its own identity.
 */
export function identityKey(url: string, jwt: string): string {
  let claims: unknown;
  try {
    const body = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(body), (c) => c.charCodeAt(0))));
  } catch {
    claims = undefined;
  }
  if (!isObject(claims)) return `${url}\n${jwt}`;
  for (const time of TIME_CLAIMS) delete claims[time];
  const sorted = (_key: string, v: unknown) => (isObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v);
  return `${url}\n${JSON.stringify(claims, sorted)}`;
}

/** 64 bits of the identity for the lock and channel names (cyrb53's mixing, both halves). */
function hash(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 >>> 0).toString(36) + (h1 >>> 0).toString(36);
}

/**
 * A tab's place in its group: its links (one per endpoint), the election, and the hub while
 * this tab is it. `in`: keyed, on the channel, holding its own lock.
 */
export class TabGroup {
  /** This tab's id: the suffix of its push target `<sessionId>.<id>` (PROTOCOL 5.1). */
  readonly id = Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  /** Tabs in the group, as the hub last said. */
  tabs = 0;
  private state: 'out' | 'keying' | 'in' = 'out';
  /** The newest hub term this tab has heard of. */
  private term: Term = [0, ''];
  private key?: string;
  private name?: string;
  private channel?: Channel;
  private readonly links: { [E in Endpoint]?: MemberLink } = {};
  private hub?: Hub;
  private hubChannel?: Channel;
  private release?: () => void;
  /** The request for the hub's lock waiting in the queue, and the one holding it (while this tab is the hub). */
  private leadRequest?: AbortController;
  private holding?: AbortController;
  private watching?: AbortController;
  private leaveOwnLock?: () => void;
  /** When the hub was last heard, and when it was last asked. */
  private heard = 0;
  private probedAt = 0;
  private frozen = false;
  private attempt = 0;
  /** The join under way: one that was left (or started again) meanwhile stops where it is. */
  private joins = 0;
  private timer?: ReturnType<typeof setInterval>;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private unwatchPage?: () => void;

  constructor(
    private readonly setup: GroupSetup,
    private readonly locks: Locks,
    private readonly Channel: ChannelConstructor,
    private readonly probeMs: number,
  ) {}

  get share(): TabShare {
    return { leader: this.hub !== undefined, tabs: this.tabs };
  }

  link(ep: Endpoint, hooks: ConnectionHooks): Link {
    return (this.links[ep] = new MemberLink(this, ep, hooks));
  }

  /** @internal */ started(ep: Endpoint): void {
    if (this.state === 'out') void this.join();
    else if (this.state === 'in') this.toHub({ t: 'start', ep });
  }

  /** @internal */ stopped(ep: Endpoint): void {
    if (this.state === 'in') this.toHub({ t: 'stop', ep });
    if (!this.anyStarted()) this.leave();
  }

  /** @internal */ send(ep: Endpoint, frame: Record<string, unknown>): void {
    this.toHub({ t: 'send', term: this.term, ep, frame });
  }

  /** @internal "Retry now", "drop" (tests), or the page shown again. */
  control(op: 'retry' | 'drop' | 'visible'): void {
    if (this.state === 'out') return void (op === 'retry' && this.anyStarted() && this.join());
    if (this.hub) return this.hub.receive({ t: 'ctl', op, from: this.id });
    this.toHub({ t: 'ctl', op });
    if (op === 'visible') this.probe(); // a hub frozen while this tab was hidden is found now
  }

  /** @internal The browser's network events reach every tab: the hub's acts on them. */
  platform(event: 'offline' | 'online', ep: Endpoint): void {
    if (this.hub) this.hub.platform(event, ep);
    else if (event === 'online' && this.state === 'out' && this.anyStarted()) void this.join();
  }

  private anyStarted(): boolean {
    return Object.values(this.links).some((link) => link.started);
  }

  private each(fn: (link: MemberLink) => void): void {
    for (const link of Object.values(this.links)) fn(link);
  }

  /** Reads the identity from a token, then joins its group: its channel, its own lock, the queue for the hub's. */
  private async join(): Promise<void> {
    const seq = ++this.joins;
    const current = () => seq === this.joins && this.state === 'keying';
    this.state = 'keying';
    clearTimeout(this.retryTimer);
    this.unwatchPage ??= watchPage(this);
    let jwt: string;
    try {
      jwt = await this.setup.token();
    } catch (err) {
      if (!current()) return;
      this.state = 'out';
      const reason: StatusReason = !this.setup.onLine() ? 'offline' : err instanceof TypeError ? 'unreachable' : 'token';
      const retryInMs = reason === 'offline' ? undefined : backoffDelay(this.attempt++, this.setup.random, this.setup.backoff);
      this.each((link) => link.hubStatus({ state: 'offline', reason, detail: `token provider: ${(err as Error)?.message ?? err}`, retryInMs }));
      if (retryInMs !== undefined) this.retryTimer = setTimeout(() => this.anyStarted() && void this.join(), retryInMs);
      return;
    }
    if (!current()) return; // left meanwhile
    this.attempt = 0;
    this.key = identityKey(this.setup.url, jwt);
    const name = `switchboard:${hash(this.key)}`;
    // Held while the tab is in: the hub learns that a tab closed without a word when it gets this
    // lock, so the tab holds it before any other tab can hear of it.
    const own = await new Promise<(() => void) | undefined>((held) => {
      this.locks.request(`${name}:tab:${this.id}`, {}, () => new Promise<void>((done) => held(done))).catch(() => held(undefined));
    });
    if (!current()) return own?.(); // left meanwhile
    if (!own) {
      this.state = 'out';
      return this.each((link) => link.hubStatus({ state: 'offline', reason: 'stopped', detail: 'this page cannot hold a Web Lock' }));
    }
    this.leaveOwnLock = own;
    this.name = name;
    this.state = 'in';
    this.channel = new this.Channel(name);
    this.channel.onmessage = (ev) => this.fromHub(ev.data as HubMessage | TabMessage);
    this.heard = Date.now();
    this.probedAt = 0;
    this.timer = setInterval(() => this.tick(), this.probeMs / 2);
    this.hello();
    if (!this.frozen) this.queue();
  }

  /** Out of the group (closed, or the page hidden for good or into the back/forward cache). */
  private leave(): void {
    const was = this.state;
    this.state = 'out';
    this.joins++;
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    if (!this.anyStarted()) {
      this.unwatchPage?.();
      this.unwatchPage = undefined;
    }
    if (was !== 'in') return;
    if (this.hub) this.resign();
    this.leadRequest?.abort();
    this.leadRequest = undefined;
    this.toHub({ t: 'bye' });
    this.leaveOwnLock?.();
    this.channel?.close();
    this.channel = undefined;
    this.tabs = 0;
    this.each((link) => link.hubLost('this tab left its group'));
    this.setup.changed();
  }

  /** @internal The page was hidden into the back/forward cache, or frozen, or is back. */
  page(event: 'pagehide' | 'pageshow' | 'freeze' | 'resume'): void {
    if (event === 'pagehide') return this.leave();
    if (event === 'pageshow') return void (this.state === 'out' && this.anyStarted() && this.join());
    if ((event === 'freeze') === this.frozen) return;
    this.frozen = event === 'freeze';
    if (this.state !== 'in') return;
    // A frozen tab neither holds the connection nor waits for it: it could get it and do nothing.
    if (!this.frozen) return this.queue();
    if (this.hub) this.resign();
    this.leadRequest?.abort();
  }

  /** Waits for the hub's lock (or takes it from a hub that does not answer). */
  private queue(steal = false): void {
    this.leadRequest?.abort();
    const request = new AbortController();
    this.leadRequest = request;
    const granted = () => {
      if (request !== this.leadRequest || this.state !== 'in' || this.frozen) return; // superseded: given back at once
      this.holding = request;
      return new Promise<void>((release) => this.lead(release));
    };
    this.locks.request(`${this.name}:leader`, steal ? { steal: true } : { signal: request.signal }, granted).catch(() => {
      // Only a held lock taken by a steal matters (an abort of ours, or a refusal, was never held).
      if (request === this.holding) this.replaced();
    });
  }

  /**
   * Another tab took the lock from this one (which did not answer in time): stop, and wait in the
   * queue again. Known by the request's rejection or by the new hub's first message, whichever
   * comes first (Chromium does not reject the request of a lock taken by a steal).
   */
  private replaced(): void {
    this.holding = undefined;
    this.depose();
    if (this.state === 'in' && !this.frozen) this.queue();
  }

  /** This tab got the lock: it runs the hub, with a channel of its own (its messages reach its own tab in order). */
  private lead(release: () => void): void {
    // Above every term before it, also those this tab never heard of (a hub frozen before it came).
    const term: Term = [Math.max(this.term[0] + 1, Date.now()), this.id];
    const channel = new this.Channel(this.name!);
    this.release = release;
    this.hubChannel = channel;
    this.hub = new Hub({
      term,
      connect: (ep, hooks) => this.setup.connect(ep, hooks, () => this.token()),
      post: (message) => channel.postMessage(message),
      watch: (tab, gone) => {
        if (tab === this.id) return; // the hub's own tab leaves with it
        this.watching ??= new AbortController();
        this.locks.request(`${this.name}:tab:${tab}`, { signal: this.watching.signal }, gone).catch(() => {});
      },
    });
    const hub = this.hub;
    channel.onmessage = (ev) => {
      const m = ev.data as HubMessage | TabMessage;
      if ('from' in m) hub.receive(m);
      else if (compareTerms(m.term, term) > 0 && this.hub === hub) this.replaced(); // a newer hub: this one was replaced
    };
    this.setup.changed();
  }

  /** Gives the connection up in good order: the tabs hear it at once, the next one in the queue takes over. */
  private resign(): void {
    this.hubChannel?.postMessage({ t: 'resign', term: this.hub!.term } satisfies HubMessage);
    this.holding = undefined;
    this.depose();
  }

  private depose(): void {
    if (!this.hub) return;
    this.hub.close();
    this.hub = undefined;
    this.hubChannel?.close();
    this.hubChannel = undefined;
    this.watching?.abort();
    this.watching = undefined;
    this.release?.();
    this.release = undefined;
    this.setup.changed();
  }

  /** The hub's connections get tokens here: one of another identity moves this tab to that identity's group. */
  private async token(): Promise<string> {
    const jwt = await this.setup.token();
    if (identityKey(this.setup.url, jwt) === this.key) return jwt;
    queueMicrotask(() => this.regroup());
    throw new Error('the token is of another identity: this tab moves to its group');
  }

  /**
   * When the hub's session (re)subscribes, where a tab of its own would have asked for a token,
   * a tab that is not the hub asks too: another identity now (another user logged in) moves it.
   */
  private async recheck(): Promise<void> {
    if (this.hub) return; // the hub's tokens are checked as they come
    let jwt: string;
    try {
      jwt = await this.setup.token();
    } catch {
      return; // no answer now: the next session asks again
    }
    if (this.state === 'in' && !this.hub && identityKey(this.setup.url, jwt) !== this.key) this.regroup();
  }

  private regroup(): void {
    if (this.state !== 'in') return;
    this.leave();
    void this.join();
  }

  private toHub(body: TabBody): void {
    this.channel?.postMessage({ ...body, from: this.id });
  }

  private hello(): void {
    const eps = (Object.keys(this.links) as Endpoint[]).filter((ep) => this.links[ep]!.started);
    this.toHub({ t: 'hello', eps, last: this.links.ws?.position });
  }

  private fromHub(m: HubMessage | TabMessage): void {
    if (!isObject(m) || 'from' in m) return; // a tab's message to the hub
    const order = compareTerms(m.term, this.term);
    if (order < 0) return; // from a hub since replaced
    if (order > 0) {
      // A new hub: this tab's session is gone, another one comes; the new hub learns where this tab is.
      this.term = m.term;
      this.each((link) => link.hubLost('another tab takes the connection over'));
      this.hello();
    }
    this.heard = Date.now();
    switch (m.t) {
      case 'resign':
        return this.each((link) => link.hubLost('the tab holding the connection left'));
      case 'tabs':
        this.tabs = m.tabs;
        return this.setup.changed();
      case 'state':
        if (m.to !== this.id) return;
        this.tabs = m.tabs;
        for (const ep of Object.keys(m.eps) as Endpoint[]) this.links[ep]?.hubState(m.eps[ep]!, m.last);
        return this.setup.changed();
      case 'status':
        return this.links[m.ep]?.hubStatus(m.status);
      case 'up':
        if (m.ep === 'ws') void this.recheck();
        return this.links[m.ep]?.hubUp(m.ack, m.first, m.resumed);
      case 'down':
        return this.links[m.ep]?.hubDown();
      case 'frame':
        return this.links[m.ep]?.hubFrame(m);
    }
  }

  /** A tab that has not heard the hub asks it; a hub that stays silent is replaced. */
  private tick(): void {
    if (this.state !== 'in' || this.hub) return;
    const now = Date.now();
    if (this.probedAt > this.heard) {
      if (now - this.probedAt < this.probeMs) return;
      this.probedAt = 0;
      this.queue(true);
    } else if (now - this.heard >= this.probeMs) {
      this.probe();
    }
  }

  private probe(): void {
    if (this.state !== 'in' || this.hub) return;
    this.probedAt = Date.now();
    this.toHub({ t: 'probe' });
  }
}

/** The page events the group needs, where there is a page. */
function watchPage(group: TabGroup): () => void {
  type Target = { addEventListener(type: string, fn: (ev: { persisted?: boolean }) => void): void; removeEventListener(type: string, fn: (ev: { persisted?: boolean }) => void): void };
  const g = globalThis as Partial<Target> & { document?: Target };
  if (typeof g.addEventListener !== 'function' || typeof g.removeEventListener !== 'function') return () => {};
  const win = g as Target;
  const hide = () => group.page('pagehide');
  const show = (ev: { persisted?: boolean }) => ev.persisted && group.page('pageshow');
  const freeze = () => group.page('freeze');
  const resume = () => group.page('resume');
  win.addEventListener('pagehide', hide);
  win.addEventListener('pageshow', show);
  g.document?.addEventListener('freeze', freeze);
  g.document?.addEventListener('resume', resume);
  return () => {
    win.removeEventListener('pagehide', hide);
    win.removeEventListener('pageshow', show);
    g.document?.removeEventListener('freeze', freeze);
    g.document?.removeEventListener('resume', resume);
  };
}

/** One endpoint of a tab in a group: the same calls and hooks as a socket of its own (./connection.ts). */
class MemberLink implements Link {
  status: Status = { state: 'offline', reason: 'stopped', detail: 'not started' };
  started = false;
  /** `/ws`: where this tab is in the stream. */
  position?: Position;
  private up = false;

  constructor(
    private readonly group: TabGroup,
    private readonly ep: Endpoint,
    private readonly hooks: ConnectionHooks,
  ) {}

  get live(): boolean {
    return this.up && this.status.state === 'live';
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.setStatus({ state: 'connecting' });
    this.group.started(this.ep);
  }

  retryNow(): void {
    if (!this.started) return this.start();
    this.group.control('retry');
  }

  send(frame: unknown): boolean {
    if (!this.live || !isObject(frame)) return false;
    this.group.send(this.ep, frame);
    return true;
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.hubDown();
    this.group.stopped(this.ep);
    this.setStatus({ state: 'offline', reason: 'stopped', detail: 'closed by the client' });
  }

  drop(): void {
    this.group.control('drop');
  }
  offline(): void {
    this.group.platform('offline', this.ep);
  }
  online(): void {
    this.group.platform('online', this.ep);
  }
  visible(): void {
    this.group.control('visible');
  }

  hubStatus(status: Status): void {
    if (this.started) this.setStatus(status);
  }

  /** The hub's answer to this tab: an endpoint already live is a new session for this tab. */
  hubState(state: { status: Status; ack?: Parameters<ConnectionHooks['subscribed']>[0] }, last: string | undefined): void {
    this.hubStatus(state.status);
    if (!state.ack || this.up || !this.started) return;
    // Back in a stream that went on without this tab (a page restored from the cache): it cannot have what it missed.
    const missed = this.ep === 'ws' && this.position?.offset !== undefined && this.position.offset !== last;
    this.hubUp(state.ack, true, false);
    if (missed) this.hooks.missed?.('this tab was away while the connection went on: events may have been missed');
  }

  hubUp(ack: Parameters<ConnectionHooks['subscribed']>[0], first: boolean, resumed: boolean): void {
    if (!this.started) return;
    if (first && resumed) this.hooks.subscribeExtras?.(); // the hub resumed: this tab awaits `resumed` too
    const wasUp = this.up;
    this.up = true;
    // Its own push target: the shared session's id and this tab's (PROTOCOL 5.1).
    this.hooks.subscribed({ ...ack, sessionId: `${ack.sessionId}.${this.group.id}` }, first || !wasUp);
  }

  hubDown(): void {
    if (!this.up) return;
    this.up = false;
    this.hooks.disconnected();
  }

  hubLost(detail: string): void {
    const was = this.up;
    this.hubDown();
    if (this.started && was) this.setStatus({ state: 'connecting', detail });
  }

  hubFrame(m: Extract<HubMessage, { t: 'frame' }>): void {
    if (!this.started || !this.up) return;
    const offset = isObject(m.frame) && typeof m.frame['@offset'] === 'string' ? m.frame['@offset'] : undefined;
    if (this.ep === 'ws') this.position = { term: m.term, n: m.n, offset: offset ?? this.position?.offset };
    if (!m.to || m.to.includes(this.group.id)) this.hooks.frame(m.frame);
    else if (offset !== undefined) this.hooks.skipped?.(offset);
  }

  private setStatus(status: Status): void {
    this.status = status;
    this.hooks.status(status);
  }
}
