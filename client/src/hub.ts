/**
 * The connection of a group of tabs (./tabs.ts elects the tab that runs it): one `/ws` and one
 * `/chat` session for every tab of one identity. It joins a push or chat room once for all the
 * tabs holding it and leaves it with the last one, sends what the server says to the tabs it is
 * for, and resumes from the newest position any tab reported. It talks to tabs by messages only.
 */
import type { ConnectionHooks, Link, Status } from './connection.js';
import { classifyEventsFrame, type RoomAnswer, type SubscribedFrame } from './protocol.js';

export type Endpoint = 'ws' | 'chat';
/** A hub's term: a counter each new hub raises, then its tab id (two hubs elected at once differ). */
export type Term = [number, string];
/** Where a tab is in the `/ws` stream: the term and number of the last frame it got, and the last `@offset`. */
export interface Position {
  term: Term;
  n: number;
  offset?: string;
}

/** What the hub says to every tab (`to`: only these tabs act on it; every tab still counts it). */
export type HubBody =
  | { t: 'leader' | 'resign' | 'alive' }
  | { t: 'tabs'; tabs: number }
  | { t: 'status'; ep: Endpoint; status: Status }
  | { t: 'up'; ep: Endpoint; ack: SubscribedFrame; first: boolean; resumed: boolean }
  | { t: 'down'; ep: Endpoint }
  | { t: 'frame'; ep: Endpoint; frame: unknown; n: number; to?: string[] }
  | { t: 'state'; to: string; eps: { [E in Endpoint]?: { status: Status; ack?: SubscribedFrame } }; last?: string; tabs: number };
export type HubMessage = HubBody & { term: Term };

/** What a tab says to the hub. */
export type TabBody =
  | { t: 'hello'; eps: Endpoint[]; last?: Position }
  | { t: 'start' | 'stop'; ep: Endpoint }
  | { t: 'send'; term: Term; ep: Endpoint; frame: Record<string, unknown> }
  | { t: 'ctl'; op: 'retry' | 'drop' | 'visible' }
  | { t: 'probe' | 'bye' };
export type TabMessage = TabBody & { from: string };

export const compareTerms = (a: Term, b: Term): number => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
export const comparePositions = (a: Position, b: Position): number => compareTerms(a.term, b.term) || a.n - b.n;

export interface HubOptions {
  term: Term;
  /** This tab's own connection for one endpoint. */
  connect(ep: Endpoint, hooks: ConnectionHooks): Link;
  /** To every tab, this one included. */
  post(message: HubMessage): void;
  /** Calls `gone` once when the tab has closed (without saying bye: crashed, discarded). */
  watch(tab: string, gone: () => void): void;
  /** Least time between two chat PINGs of a room (ms): every tab keeps its heartbeat, the server needs one. */
  pingGapMs?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const roomKey = (ref: Record<string, unknown>) => `${ref.Type}:${ref.RoomTypeObject}`;
/** Client ids of posts waiting for their answer, and history pages asked: bounded. */
const MAX_IDS = 1000;
const MAX_PAGES = 64;

export class Hub {
  private readonly tabs = new Map<string, Set<Endpoint>>();
  private readonly links: { [E in Endpoint]?: Link } = {};
  private readonly acks: { [E in Endpoint]?: SubscribedFrame } = {};
  /** The newest position tabs reported when this hub started. */
  private best?: Position;
  /** The newest `@offset` of this hub's stream (or where it resumed from). */
  private last?: string;
  private resumed = false;
  private n = 0;
  /** Push rooms held on the server, by the tabs holding them, with the server's answer once it came. */
  private readonly pushRooms = new Map<string, { tabs: Set<string>; answer?: RoomAnswer }>();
  /** Chat rooms joined on the server (by Type:RoomTypeObject), and the tabs holding each. */
  private readonly chatRooms = new Map<string, { ref: unknown; tabs: Set<string> }>();
  private readonly chatKeys = new Map<string, string>();
  private readonly posts = new Map<string, string>();
  private pages: { key: string; end: number; tab: string }[] = [];
  private readonly pings = new Map<string, number>();
  private closed = false;

  constructor(private readonly options: HubOptions) {
    this.post({ t: 'leader' });
  }

  get term(): Term {
    return this.options.term;
  }

  /** A message from a tab. */
  receive(msg: TabMessage): void {
    if (this.closed) return;
    if (msg.t === 'probe') return this.post({ t: 'alive' });
    if (msg.t === 'bye') return this.gone(msg.from);
    let eps = this.tabs.get(msg.from);
    if (!eps) {
      this.tabs.set(msg.from, (eps = new Set()));
      this.options.watch(msg.from, () => this.gone(msg.from));
      this.post({ t: 'tabs', tabs: this.tabs.size });
    }
    switch (msg.t) {
      case 'hello':
        if (msg.last && (!this.best || comparePositions(msg.last, this.best) > 0)) this.best = msg.last;
        for (const ep of msg.eps) this.want(eps, ep);
        return this.state(msg.from);
      case 'start':
        this.want(eps, msg.ep);
        return this.state(msg.from);
      case 'stop':
        eps.delete(msg.ep);
        this.forget(msg.from, msg.ep);
        return this.unused(msg.ep);
      case 'send':
        // Sent to a previous hub: that session is gone, as the tab was told.
        if (compareTerms(msg.term, this.term) === 0 && isObject(msg.frame)) this.fromTab(msg.from, msg.ep, msg.frame);
        return;
      case 'ctl':
        for (const link of Object.values(this.links)) {
          if (msg.op === 'retry') link.retryNow();
          else if (msg.op === 'visible') link.visible();
        }
        if (msg.op === 'drop') this.links.ws?.drop();
        return;
    }
  }

  /** The browser's network events, in the hub's own tab. */
  platform(event: 'offline' | 'online', ep: Endpoint): void {
    this.links[ep]?.[event]();
  }

  /** Closes the connections without a word to the tabs (a resign or a newer hub says it). */
  close(): void {
    this.closed = true;
    for (const ep of Object.keys(this.links) as Endpoint[]) {
      const link = this.links[ep]!;
      delete this.links[ep];
      link.stop();
    }
  }

  private post(body: HubBody): void {
    if (!this.closed) this.options.post({ ...body, term: this.term });
  }

  private want(eps: Set<Endpoint>, ep: Endpoint): void {
    eps.add(ep);
    let link = this.links[ep];
    if (!link) {
      const hooks = this.hooks(ep, () => link);
      this.links[ep] = link = this.options.connect(ep, hooks);
    }
    link.start();
  }

  /** No tab uses the endpoint any more: its socket closes. */
  private unused(ep: Endpoint): void {
    const link = this.links[ep];
    if (!link || [...this.tabs.values()].some((eps) => eps.has(ep))) return;
    delete this.links[ep];
    delete this.acks[ep];
    link.stop();
  }

  private gone(tab: string): void {
    const eps = this.tabs.get(tab);
    if (!eps || this.closed) return;
    this.tabs.delete(tab);
    for (const ep of eps) {
      this.forget(tab, ep);
      this.unused(ep);
    }
    this.post({ t: 'tabs', tabs: this.tabs.size });
  }

  /** The tab no longer uses the endpoint: the rooms only it held are left. */
  private forget(tab: string, ep: Endpoint): void {
    const link = this.links[ep];
    if (ep === 'ws') {
      for (const [room, held] of this.pushRooms) {
        if (!held.tabs.delete(tab) || held.tabs.size) continue;
        this.pushRooms.delete(room);
        link?.send({ '@type': 'leaveRoom', room });
      }
      return;
    }
    for (const [key, held] of this.chatRooms) {
      if (!held.tabs.delete(tab) || held.tabs.size) continue;
      this.chatRooms.delete(key);
      link?.send({ '@type': 'LEAVE', Room: held.ref });
    }
    for (const [id, owner] of this.posts) if (owner === tab) this.posts.delete(id);
  }

  /** Answers a tab that says hello or starts an endpoint: where each endpoint is. */
  private state(to: string): void {
    const eps: Extract<HubBody, { t: 'state' }>['eps'] = {};
    for (const ep of Object.keys(this.links) as Endpoint[]) {
      const link = this.links[ep]!;
      eps[ep] = { status: link.status, ack: link.live ? this.acks[ep] : undefined };
    }
    this.post({ t: 'state', to, eps, last: this.last, tabs: this.tabs.size });
  }

  private hooks(ep: Endpoint, current: () => Link | undefined): ConnectionHooks {
    const mine = () => !this.closed && this.links[ep] !== undefined && this.links[ep] === current();
    return {
      subscribeExtras: (): Record<string, string> => {
        if (ep !== 'ws') return {};
        const from = this.last ?? this.best?.offset;
        this.last = from;
        this.resumed = from !== undefined;
        return from === undefined ? {} : { resumeFrom: from };
      },
      subscribed: (ack, first) => {
        if (!mine()) return;
        this.acks[ep] = ack;
        // Where the stream stood as the session went live: a drop before the first event resumes from it.
        if (ep === 'ws' && first && !this.resumed && this.last === undefined && typeof ack['@offset'] === 'string') this.last = ack['@offset'];
        if (first) this.reset(ep);
        this.post({ t: 'up', ep, ack, first, resumed: first && ep === 'ws' && this.resumed });
      },
      frame: (frame) => {
        if (mine()) this.route(ep, frame);
      },
      disconnected: () => {
        if (!mine()) return;
        delete this.acks[ep];
        this.reset(ep);
        this.post({ t: 'down', ep });
      },
      status: (status) => {
        if (mine()) this.post({ t: 'status', ep, status });
      },
    };
  }

  /** A new session, or none: the server holds no room for it (the tabs join theirs again on `up`). */
  private reset(ep: Endpoint): void {
    if (ep === 'ws') return this.pushRooms.clear();
    this.chatRooms.clear();
    this.pings.clear();
    this.pages = [];
  }

  /** A frame of a tab, for the server: rooms are joined once and left with the last tab. */
  private fromTab(tab: string, ep: Endpoint, frame: Record<string, unknown>): void {
    const link = this.links[ep];
    if (!link) return;
    const type = frame['@type'];
    if (ep === 'ws' && typeof frame.room === 'string') {
      const room = frame.room;
      const held = this.pushRooms.get(room);
      if (type === 'joinRoom') {
        if (held) {
          held.tabs.add(tab);
          // Answered already: the same answer; else the one to come goes to every tab waiting.
          if (held.answer) this.send('ws', held.answer, [tab]);
          return;
        }
        this.pushRooms.set(room, { tabs: new Set([tab]) });
      } else if (type === 'leaveRoom') {
        held?.tabs.delete(tab);
        this.send('ws', { '@type': 'room', room, joined: false, left: true }, [tab]);
        if (held?.tabs.size) return;
        this.pushRooms.delete(room);
      }
    } else if (ep === 'chat' && typeof type === 'string') {
      const ref = isObject(frame.Room) ? frame.Room : undefined;
      const key = ref && roomKey(ref);
      switch (type.toUpperCase()) {
        case 'JOIN': {
          if (!key) break;
          if (isObject(frame.Message) && frame.Message.Message === 'PING') {
            const now = Date.now();
            if (now - (this.pings.get(key) ?? -Infinity) < (this.options.pingGapMs ?? 5000)) return;
            this.pings.set(key, now);
            break;
          }
          const held = this.chatRooms.get(key);
          if (held) return void held.tabs.add(tab); // the tab's HISTORY that follows brings its ROOM_UPDATE
          this.chatRooms.set(key, { ref, tabs: new Set([tab]) });
          break;
        }
        case 'LEAVE': {
          const held = key ? this.chatRooms.get(key) : undefined;
          held?.tabs.delete(tab);
          if (held?.tabs.size) return;
          if (key) this.chatRooms.delete(key);
          if (key) this.pings.delete(key);
          break;
        }
        case 'HISTORY': {
          // Its MAY_HAVE_MORE says `Offset` = the page's Offset + Limit: the tab that asked gets it.
          let page: unknown;
          try {
            page = isObject(frame.Message) && typeof frame.Message.Message === 'string' ? JSON.parse(frame.Message.Message) : undefined;
          } catch {
            page = undefined;
          }
          if (key && isObject(page)) this.pages = [...this.pages.slice(1 - MAX_PAGES), { key, end: Number(page.Offset) + Number(page.Limit), tab }];
          break;
        }
        default:
          if (typeof frame.id === 'string') {
            if (this.posts.size >= MAX_IDS) this.posts.delete(this.posts.keys().next().value!);
            this.posts.set(frame.id, tab);
          }
      }
    }
    link.send(frame);
  }

  /** A frame from the server, to the tabs it is for. */
  private route(ep: Endpoint, frame: unknown): void {
    this.send(ep, frame, ep === 'ws' ? this.eventTabs(frame) : this.chatTabs(frame));
  }

  private send(ep: Endpoint, frame: unknown, to: string[] | undefined): void {
    if (ep === 'ws') {
      const offset = isObject(frame) ? frame['@offset'] : undefined;
      if (typeof offset === 'string') this.last = offset;
    }
    this.post({ t: 'frame', ep, frame, n: ++this.n, ...(to && { to }) });
  }

  /** Call and push answers to the tabs that asked; a push to a tab or a room (PROTOCOL 5.1) to its tabs; the rest to all. */
  private eventTabs(frame: unknown): string[] | undefined {
    // A call's answer (only calls carry an id on /ws): to the tab whose id prefixes the call's (`<tab>:<n>`).
    if (isObject(frame) && frame.id !== undefined && (frame['@type'] === 'result' || frame['@type'] === 'error')) {
      const at = typeof frame.id === 'string' ? frame.id.indexOf(':') : -1;
      const tab = at > 0 ? (frame.id as string).slice(0, at) : '';
      return this.tabs.has(tab) ? [tab] : [];
    }
    const classified = classifyEventsFrame(frame);
    if (classified.kind === 'room') {
      const answer = classified.frame;
      const held = typeof answer.room === 'string' ? this.pushRooms.get(answer.room) : undefined;
      if (answer.joined) {
        if (held) held.answer = answer;
        return held ? [...held.tabs] : [];
      }
      if (answer.left && !answer.reason) return []; // the hub's own leave: the tab was answered when it left
      if (held) this.pushRooms.delete(answer.room!); // refused or revoked
      return held && [...held.tabs];
    }
    if (classified.kind !== 'push' || !isObject(frame)) return undefined;
    const tab = frame['@tab'];
    if (typeof tab === 'string') return this.tabs.has(tab) ? [tab] : [];
    const room = frame['@room'];
    const held = typeof room === 'string' ? this.pushRooms.get(room) : undefined;
    // A room no tab joined (a backend's subscribeUser): every tab, as each one's own session would be in it.
    return held?.tabs.size ? [...held.tabs] : undefined;
  }

  /** Answers to a post to the tab that posted; a history's MAY_HAVE_MORE to the tab that asked; the rest to all (each tab keeps its rooms'). */
  private chatTabs(frame: unknown): string[] | undefined {
    if (!isObject(frame)) return undefined;
    const type = frame['@type'];
    if (type === 'ROOM_UPDATE' && isObject(frame.Room) && typeof frame.Room.Uuid === 'string') {
      if (this.chatKeys.size >= MAX_IDS) this.chatKeys.clear(); // only MAY_HAVE_MORE and refusals need it
      this.chatKeys.set(frame.Room.Uuid, roomKey(frame.Room));
    } else if (typeof frame.id === 'string' && (type === 'ack' || type === 'error')) {
      const tab = this.posts.get(frame.id);
      this.posts.delete(frame.id);
      return tab === undefined ? undefined : [tab];
    } else if (type === 'error' && isObject(frame.Room)) {
      // Refused or revoked: not joined any more, so the next JOIN of a tab goes to the server.
      const key = typeof frame.Room.Uuid === 'string' ? this.chatKeys.get(frame.Room.Uuid) : roomKey(frame.Room);
      if (key) this.chatRooms.delete(key);
    } else if (type === 'MAY_HAVE_MORE') {
      const key = this.chatKeys.get(String(frame.RoomUuid));
      const i = this.pages.findIndex((p) => p.key === key && p.end === frame.Offset);
      if (i >= 0) return this.pages.splice(i, 1).map((p) => p.tab);
    }
    return undefined;
  }
}
