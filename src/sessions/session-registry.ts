import type { Identity, Workspace } from '../auth/identity.js';
import { covers } from './identity-scope.js';
import type { Session } from './session.js';

/** A session's identity was replaced (subscribe, unsubscribe, workspace deletion, close). */
export interface IdentityChange {
  session: Session;
  previous?: Identity;
  /** The raw token of a subscribe; undefined for changes that did not come with one. Never log it. */
  token?: string;
  /** The new identity may see less than the previous one (or is another user, or none). */
  narrowed: boolean;
}

/** Re-checks what the session holds (rooms) against its new identity; never rejects. */
export type IdentityListener = (change: IdentityChange) => void | Promise<void>;

/** A session that holds a workspace with a root at `root`. */
export interface RootHolder {
  session: Session;
  workspace: Workspace;
  root: string;
}

/**
 * `prefix + value` as one flat string. A concatenation makes a two-part string, which a Map
 * keeps along with the flat copy that hashing it makes (~30 B more for every session's own
 * `user:` and `subject:` keys).
 */
const flat = (prefix: string, value: string): string => [prefix, value].join('');

/** The index keys a subscribed identity is found under (same vocabulary as the topic audiences). */
export function identityKeys(identity: Identity): string[] {
  return [
    flat('user:', identity.user),
    flat('subject:', identity.subject),
    `profile:${identity.profile}`,
    ...identity.roles.map((r) => `role:${r}`),
    ...identity.workspaces.map((w) => `ws:${w.uuid}`),
  ];
}

/**
 * The sessions of one endpoint, indexed so that an event costs O(sessions that receive it):
 * by id, by key (`user:`, `subject:`, `profile:`, `role:`, `ws:`, `room:`) and by workspace
 * root path (to find, from a node path, the sessions that see it by walking its ancestors).
 */
export class SessionRegistry {
  private readonly byId = new Map<string, Session>();
  /**
   * A key held by one session maps to that session, a Set only from the second: most keys
   * (`user:`, `subject:`) have one session, and a Set costs ~180 B of heap.
   */
  private readonly byKey = new Map<string, Session | Set<Session>>();
  /** A session's workspaces at a root: one alone (the common case), several in an array. */
  private readonly byRoot = new Map<string, Map<Session, Workspace | Workspace[]>>();
  private readonly listeners: IdentityListener[] = [];

  get size(): number {
    return this.byId.size;
  }

  all(): IterableIterator<Session> {
    return this.byId.values();
  }

  get(id: string): Session | undefined {
    return this.byId.get(id);
  }

  add(session: Session): void {
    this.byId.set(session.id, session);
  }

  /** Room owners (push, chat) re-check their memberships here after every identity change. */
  onIdentityChange(listener: IdentityListener): void {
    this.listeners.push(listener);
  }

  remove(session: Session): void {
    void this.setIdentity(session, undefined);
    for (const room of [...session.rooms]) this.leaveRoom(session, room);
    this.byId.delete(session.id);
  }

  /**
   * Replaces the session's identity (subscribe, re-subscribe, unsubscribe). When it narrows,
   * what was queued for the previous one is dropped at once; then the listeners re-check the
   * rooms. The promise settles when they are done (a subscribe answers only then).
   */
  setIdentity(session: Session, identity: Identity | undefined, token?: string): Promise<void> {
    return this.change(session, identity, token);
  }

  private change(session: Session, identity: Identity | undefined, token?: string, keepTopic?: string): Promise<void> {
    const previous = session.identity;
    this.reindex(session, identity);
    if (previous === identity) return Promise.resolve();
    const narrowed = previous !== undefined && !(identity && covers(identity, previous));
    if (narrowed) session.forgetQueued(keepTopic);
    const work: Promise<void>[] = [];
    for (const listener of this.listeners) {
      const result = listener({ session, previous, token, narrowed });
      if (result) work.push(result);
    }
    return Promise.all(work).then(() => undefined);
  }

  private reindex(session: Session, identity: Identity | undefined): void {
    if (session.identity) {
      for (const key of identityKeys(session.identity)) this.unindex(key, session);
      for (const w of session.identity.workspaces) for (const r of w.roots) this.unindexRoot(r.path, session);
    }
    session.assignIdentity(identity);
    if (!identity) return;
    for (const key of identityKeys(identity)) this.index(key, session);
    for (const w of identity.workspaces) for (const r of w.roots) this.indexRoot(r.path, session, w);
  }

  /** Sessions holding any of the keys (a union, each session once). May be the live index set: copy before changing the registry. */
  withKeys(keys: readonly string[]): Set<Session> {
    if (keys.length === 1) {
      const held = this.byKey.get(keys[0]);
      return held instanceof Set ? held : new Set(held && [held]);
    }
    const out = new Set<Session>();
    for (const key of keys) {
      const held = this.byKey.get(key);
      if (held instanceof Set) for (const s of held) out.add(s);
      else if (held) out.add(held);
    }
    return out;
  }

  /**
   * Every (session, workspace, root) with a root at `path` or at one of its ancestors:
   * O(depth). Outer roots come first.
   */
  rootHolders(path: string | undefined): RootHolder[] {
    if (!path) return [];
    const out: RootHolder[] = [];
    let end = path.indexOf('/');
    for (;;) {
      const root = end === -1 ? path : path.slice(0, end);
      for (const [session, held] of this.byRoot.get(root) ?? []) {
        if (!Array.isArray(held)) out.push({ session, workspace: held, root });
        else for (const workspace of held) out.push({ session, workspace, root });
      }
      if (end === -1) return out;
      end = path.indexOf('/', end + 1);
    }
  }

  joinRoom(session: Session, room: string): void {
    session.addRoom(room);
    this.index(`room:${room}`, session);
  }

  leaveRoom(session: Session, room: string): void {
    session.deleteRoom(room);
    this.unindex(`room:${room}`, session);
  }

  /**
   * Takes a deleted workspace away from every session that held it; returns them. What was
   * queued for them is dropped, but for the idm frames that tell them why; their rooms are
   * re-checked by the listeners.
   */
  removeWorkspace(uuid: string): Session[] {
    const holders = [...this.withKeys([`ws:${uuid}`])];
    for (const session of holders) {
      const identity = session.identity!;
      void this.change(session, { ...identity, workspaces: identity.workspaces.filter((w) => w.uuid !== uuid) }, undefined, 'idm');
    }
    return holders;
  }

  private index(key: string, session: Session): void {
    const held = this.byKey.get(key);
    if (held === undefined) this.byKey.set(key, session);
    else if (held instanceof Set) held.add(session);
    else if (held !== session) this.byKey.set(key, new Set([held, session]));
  }

  private unindex(key: string, session: Session): void {
    const held = this.byKey.get(key);
    if (held === session) this.byKey.delete(key);
    // Down to one session: back to the session alone.
    else if (held instanceof Set && held.delete(session) && held.size <= 1) {
      if (held.size === 0) this.byKey.delete(key);
      else this.byKey.set(key, held.values().next().value!);
    }
  }

  private indexRoot(path: string, session: Session, workspace: Workspace): void {
    let holders = this.byRoot.get(path);
    if (!holders) this.byRoot.set(path, (holders = new Map()));
    const held = holders.get(session);
    if (!held) holders.set(session, workspace);
    else if (!Array.isArray(held)) {
      if (held !== workspace) holders.set(session, [held, workspace]);
    } else if (!held.includes(workspace)) held.push(workspace);
  }

  private unindexRoot(path: string, session: Session): void {
    const holders = this.byRoot.get(path);
    if (holders?.delete(session) && holders.size === 0) this.byRoot.delete(path);
  }
}
